// After each test file, nothing it opened may still be open: no socket (a pool, a
// broker connection), no listening server, no child process. As graphile-worker fails a test that leaves workers running: a leak
// in a test is usually a close() the library forgot, and a user's process would hang
// on it at exit. A vitest setup file: its afterAll runs after the file's own.
import net from 'node:net';
import { afterAll } from 'vitest';

/** Keep-alive sockets of fetch's global pool (the management API): undici closes them itself after a few seconds. */
const MANAGEMENT_PORTS = new Set([15672, 15671]);
/** How long the file's late closes (a socket's FIN, a child's exit) may take to settle. */
const SETTLE_MS = 5_000;

interface ProcessWithHandles {
  _getActiveHandles(): unknown[];
}

/** What keeps the process alive that a test could have opened, described. */
function openResources(): string[] {
  const handles = (process as unknown as ProcessWithHandles)._getActiveHandles();
  const open: string[] = [];
  for (const handle of handles) {
    if (handle instanceof net.Socket) {
      // stdio and vitest's own channel to its workers are pipes, not TCP.
      if (handle.remotePort === undefined || handle.destroyed) continue;
      if (MANAGEMENT_PORTS.has(handle.remotePort)) continue;
      open.push(`socket to ${handle.remoteAddress}:${handle.remotePort}`);
    } else if (handle instanceof net.Server) {
      if (handle.listening) open.push(`server listening on ${JSON.stringify(handle.address())}`);
    } else if (handle?.constructor?.name === 'ChildProcess') {
      open.push(`child process ${(handle as { pid?: number }).pid}`);
    }
  }
  return open;
}

afterAll(async () => {
  const deadline = Date.now() + SETTLE_MS;
  let open = openResources();
  while (open.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    open = openResources();
  }
  if (open.length > 0) throw new Error(`the test file left these open: ${open.join('; ')}`);
}, SETTLE_MS + 5_000);
