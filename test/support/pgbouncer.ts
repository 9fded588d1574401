// A real PgBouncer (Debian's `pgbouncer`, installed by scripts/testTools.sh) that a
// test starts on a port of its own in front of the local PostgreSQL: what many
// production apps connect through, and what breaks LISTEN in transaction mode.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export type PoolMode = 'session' | 'transaction';

export interface PgBouncer {
  readonly port: number;
  /** `url` with its host and port replaced by the bouncer's, and pgbouncer=true (unless `flagged` is false). */
  url(url: string, flagged?: boolean): string;
  /** Rewrites the config with another pool mode and reloads it (SIGHUP): new server connections use it. */
  switchPoolMode(mode: PoolMode): Promise<void>;
  stop(): Promise<void>;
}

const BINARY = process.env.PGBOUNCER_BIN ?? '/usr/sbin/pgbouncer';

export async function startPgBouncer(mode: PoolMode, target = { host: '127.0.0.1', port: 5432 }): Promise<PgBouncer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'outbox-pgbouncer-'));
  // PgBouncer refuses to run as root; as root it runs as postgres, which must read the files.
  chmodSync(dir, 0o755);
  const port = await freePort();
  const configPath = path.join(dir, 'pgbouncer.ini');
  const writeConfig = (poolMode: PoolMode) =>
    writeFileSync(
      configPath,
      [
        '[databases]',
        `* = host=${target.host} port=${target.port}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        'unix_socket_dir =',
        'auth_type = trust',
        `auth_file = ${path.join(dir, 'users.txt')}`,
        `pool_mode = ${poolMode}`,
        'server_reset_query =',
        '',
      ].join('\n'),
      { mode: 0o644 },
    );
  writeFileSync(path.join(dir, 'users.txt'), '"postgres" ""\n', { mode: 0o644 });
  writeConfig(mode);
  const asRoot = process.getuid?.() === 0;
  const child: ChildProcess = spawn(BINARY, [...(asRoot ? ['-u', 'postgres'] : []), configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    // ENOENT: not installed.
    child.once('error', (error) => {
      stderr += error.message;
      resolve();
    });
  });
  await waitUntilListening(port, exited, () => stderr);
  return {
    port,
    url(url, flagged = true) {
      const parsed = new URL(url);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(port);
      if (flagged) parsed.searchParams.set('pgbouncer', 'true');
      return parsed.toString();
    },
    async switchPoolMode(poolMode) {
      writeConfig(poolMode);
      child.kill('SIGHUP');
      // The reload is asynchronous and says nothing on success to a client: give it a moment.
      await new Promise((resolve) => setTimeout(resolve, 300));
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitUntilListening(port: number, exited: Promise<void>, stderr: () => string): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  for (let attempt = 0; attempt < 100; attempt += 1) {
    if (gone) throw new Error(`${BINARY} exited at start (is it installed? scripts/testTools.sh installs it): ${stderr()}`);
    const connected = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (connected) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${BINARY} did not listen on ${port} within 10 s: ${stderr()}`);
}
