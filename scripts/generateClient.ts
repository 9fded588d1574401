// `prisma generate` without network: generation never runs the schema engine, but
// the CLI insists on having one, so point it at a stand-in that exits 1
// (../shared/ENVIRONMENT.md). Where the real engine is installed, it is used.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const env = { ...process.env };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY) {
  const stub = path.join(mkdtempSync(path.join(tmpdir(), 'outbox-prisma-')), 'schema-engine-unavailable');
  writeFileSync(stub, '#!/bin/sh\necho "schema engine not available offline: use npm run db:migrate" >&2\nexit 1\n');
  chmodSync(stub, 0o755);
  env.PRISMA_SCHEMA_ENGINE_BINARY = stub;
}
const result = spawnSync('prisma', ['generate'], { stdio: 'inherit', env, shell: false });
process.exitCode = result.status ?? 1;
