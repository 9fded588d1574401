// The fault proxy itself, against an echo server: each fault does what the
// network tests rely on it to do.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../support/faultProxy.js';

let echo: net.Server;
let proxy: FaultProxy;

beforeAll(async () => {
  echo = net.createServer((socket) => socket.on('error', () => {}).pipe(socket));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  proxy = await startFaultProxy({ host: '127.0.0.1', port: (echo.address() as net.AddressInfo).port });
});

afterAll(async () => {
  await proxy.close();
  await new Promise((resolve) => echo.close(resolve));
});

interface Probe {
  socket: net.Socket;
  received: () => string;
  closed: () => boolean;
}

async function connect(): Promise<Probe> {
  const socket = net.connect(proxy.port, '127.0.0.1');
  let text = '';
  let closed = false;
  socket.on('data', (chunk) => (text += chunk.toString()));
  socket.on('close', () => (closed = true));
  socket.on('error', () => {});
  await new Promise((resolve) => socket.once('connect', resolve));
  return { socket, received: () => text, closed: () => closed };
}

const waitFor = async (condition: () => boolean, ms = 2_000) => {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

describe('the fault proxy', () => {
  it('forwards both ways, and delays by the latency set', async () => {
    const probe = await connect();
    probe.socket.write('ping');
    await waitFor(() => probe.received() === 'ping');
    proxy.latency(300);
    const sentAt = Date.now();
    probe.socket.write('slow');
    await waitFor(() => probe.received() === 'pingslow');
    // Both ways: about twice the latency for a round trip.
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(590);
    proxy.latency(0);
    probe.socket.destroy();
  });

  it('holds everything during a partition, then delivers it in order', async () => {
    const probe = await connect();
    const partition = proxy.partition(400);
    probe.socket.write('a');
    probe.socket.write('b');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(probe.received()).toBe('');
    await partition;
    await waitFor(() => probe.received() === 'ab');
    probe.socket.destroy();
  });

  it('black-holes open and new connections without closing them, until healed', async () => {
    const before = await connect();
    proxy.blackhole();
    const during = await connect();
    before.socket.write('lost');
    during.socket.write('lost');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect([before.received(), during.received(), before.closed(), during.closed()]).toEqual(['', '', false, false]);
    proxy.heal();
    const after = await connect();
    after.socket.write('back');
    await waitFor(() => after.received() === 'back');
    // Dead connections stay dead.
    before.socket.write('still lost');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(before.received()).toBe('');
    for (const probe of [before, during, after]) probe.socket.destroy();
  });

  it('resets every open connection', async () => {
    const probe = await connect();
    let reset = false;
    probe.socket.on('error', (error: NodeJS.ErrnoException) => (reset ||= error.code === 'ECONNRESET'));
    proxy.reset();
    await waitFor(() => probe.closed());
    expect(reset).toBe(true);
  });
});
