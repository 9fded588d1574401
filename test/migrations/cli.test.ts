// The `outbox` command as a user runs it: a real process, exit codes, no secrets in its output.
import { afterAll, describe, expect, it } from 'vitest';
import { dropDatabase, queryDatabase, scratchDatabaseName } from '../support/adminDatabase.js';
import { databaseUrl } from '../support/databaseUrls.js';
import { runOutboxCli } from '../support/runOutboxCli.js';

const created: string[] = [];
afterAll(() => Promise.all(created.map(dropDatabase)));

const outbox = runOutboxCli;

describe('outbox migrate (CLI)', () => {
  it('migrates DATABASE_URL, then reports it up to date', async () => {
    const name = scratchDatabaseName('cli_migrate');
    created.push(name);
    const env = { DATABASE_URL: databaseUrl(name).replace('postgres@', 'postgres:Cli5ecret@') };

    const first = await outbox(['migrate'], env);
    expect(first.code, first.stderr).toBe(0);
    // Logs on stderr, every line pino JSON; the report on stdout.
    const lines = first.stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.map((line) => line.msg)).toEqual(expect.arrayContaining(['created database', 'applied migration']));
    expect(first.stdout).toMatch(/^applied \d+ migration\(s\)/);
    expect(first.stdout + first.stderr).not.toContain('Cli5ecret');
    expect(await queryDatabase(name, 'SELECT count(*)::int AS count FROM outbox_message')).toEqual([{ count: 0 }]);

    const second = await outbox(['migrate'], env);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('database is up to date');
  });

  it('exits 1 with a coded, redacted error when the database is unreachable', async () => {
    const result = await outbox(['migrate'], { DATABASE_URL: 'postgresql://app:Cli5ecret@127.0.0.1:1/shop' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('OUTBOX_MIGRATION_FAILED');
    expect(result.stderr + result.stdout).not.toContain('Cli5ecret');
  });

  it('exits 1 with OUTBOX_INVALID_CONFIG without DATABASE_URL or with a non-PostgreSQL one', async () => {
    const missing = await outbox(['migrate'], { DATABASE_URL: undefined });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('OUTBOX_INVALID_CONFIG');
    const mysql = await outbox(['migrate'], { DATABASE_URL: 'mysql://root:Cli5ecret@127.0.0.1/x' });
    expect(mysql.code).toBe(1);
    expect(mysql.stderr).toContain('OUTBOX_INVALID_CONFIG');
    expect(mysql.stderr).not.toContain('Cli5ecret');
  });

  it('exits 2 with usage for an unknown command or option', async () => {
    const unknown = await outbox(['frobnicate'], {});
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command');
    const badOption = await outbox(['migrate', '--nope'], { DATABASE_URL: databaseUrl('unused') });
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toContain('Usage');
  });
});
