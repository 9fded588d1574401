import { createPgSqlStore } from '../src/database/sqlStore.js';
import { enablePartitioning } from '../src/operations/enablePartitioning.js';
import { readPartitions } from '../src/database/partitionLayout.js';
const store = createPgSqlStore(process.argv[2]!, { maxConnections: 2, queryTimeoutMs: 600_000 });
try {
  console.log(JSON.stringify(await enablePartitioning(store, { aheadDays: 3, lockTimeoutMs: 2000 }), null, 1));
  console.log(await readPartitions(store.query));
} finally { await store.close(); }
