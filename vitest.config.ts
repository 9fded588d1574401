import { defineConfig } from 'vitest/config';

// The migrated template database every file with servers clones (not the unit
// project's: `npm run test:unit` touches no server).
const globalSetup = ['test/support/globalSetup.ts'];

export default defineConfig({
  test: {
    // Fails a file that leaves sockets, listening servers or child processes open.
    setupFiles: ['test/support/leakCheck.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        // No servers: timing helpers, limiters, lifecycle contracts. Seconds; first.
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], sequence: { groupOrder: 0 } },
      },
      {
        // Each file has its own database (cloned from a migrated template) and its own
        // RabbitMQ vhost, so these run in parallel.
        extends: true,
        test: {
          name: 'isolated',
          globalSetup,
          include: ['test/**/*.test.ts'],
          exclude: ['test/unit/**', 'test/faults/**', 'test/chaos/**', 'test/package/dropIn.test.ts'],
          sequence: { groupOrder: 1 },
        },
      },
      {
        // The packed tarball installed into a scratch app: after the others, because
        // `npm pack` rebuilds dist/, which other files import while they run.
        extends: true,
        test: {
          name: 'package',
          globalSetup,
          include: ['test/package/dropIn.test.ts'],
          sequence: { groupOrder: 2 },
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
      {
        // Faults that touch the whole broker (close every connection, stop the app,
        // a memory alarm) run alone, after everything else.
        extends: true,
        test: { name: 'faults', globalSetup, include: ['test/faults/**/*.test.ts'], fileParallelism: false, sequence: { groupOrder: 3 }, testTimeout: 120_000 },
      },
      {
        // The whole pipeline under combined faults (it stops the broker and restarts
        // PostgreSQL): alone, last. `npm run test:chaos` runs only these.
        extends: true,
        test: { name: 'chaos', globalSetup, include: ['test/chaos/**/*.test.ts'], fileParallelism: false, sequence: { groupOrder: 4 }, testTimeout: 420_000 },
      },
    ],
  },
});
