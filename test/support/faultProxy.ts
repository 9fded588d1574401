// A TCP proxy the tests put between a component and PostgreSQL or RabbitMQ, to
// break the network the way real networks break: connections that go silent
// without closing (half-open), partitions, latency, resets. Faults the servers
// themselves cannot produce (stopping a server closes its sockets cleanly).
import net from 'node:net';

export interface FaultProxy {
  /** The local port that forwards to the target. */
  readonly port: number;
  /** `url` with its host and port replaced by the proxy's. */
  url(url: string): string;
  /**
   * Half-open: every open connection goes silent for good (bytes dropped both ways,
   * neither socket closed), and so does every connection opened until `heal()`.
   */
  blackhole(): void;
  /**
   * A partition of `ms`: nothing passes either way, new connections included, then
   * everything held is delivered in order (as TCP's retransmissions would), closes
   * included. Resolves when it has healed.
   */
  partition(ms: number): Promise<void>;
  /** Every chunk is delivered `ms` after it arrived, both ways (0: none). */
  latency(ms: number): void;
  /** Resets (RST) every open connection, both sides. */
  reset(): void;
  /** New connections pass again (after `blackhole()`); dead ones stay dead. */
  heal(): void;
  /** Connections open through the proxy, dead ones included. */
  openConnections(): number;
  close(): Promise<void>;
}

interface Link {
  client: net.Socket;
  server: net.Socket;
  dead: boolean;
}

export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  const links = new Set<Link>();
  let latencyMs = 0;
  let dropNew = false;
  // Resolved while traffic flows; a pending promise during a partition.
  let flowing: Promise<void> = Promise.resolve();

  /** One direction of a link: chunks and the close, in order, through latency and partitions. */
  const pump = (link: Link, from: net.Socket, to: net.Socket) => {
    let tail = Promise.resolve();
    const later = (deliver: () => void) => {
      const dueAt = Date.now() + latencyMs;
      tail = tail.then(async () => {
        await flowing;
        const wait = dueAt - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        if (!link.dead && !to.destroyed) deliver();
      });
    };
    from.on('data', (chunk: Buffer) => {
      if (!link.dead) later(() => to.write(chunk));
    });
    from.on('end', () => later(() => to.end()));
    from.on('close', () => later(() => to.destroy()));
    from.on('error', () => {});
  };

  const server = net.createServer((client) => {
    const upstream = net.connect(target);
    const link: Link = { client, server: upstream, dead: dropNew };
    links.add(link);
    upstream.on('close', () => {
      if (client.destroyed) links.delete(link);
    });
    client.on('close', () => {
      if (upstream.destroyed) links.delete(link);
    });
    pump(link, client, upstream);
    pump(link, upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    url(url) {
      const parsed = new URL(url);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(port);
      return parsed.toString();
    },
    blackhole() {
      dropNew = true;
      for (const link of links) link.dead = true;
    },
    async partition(ms) {
      let heal!: () => void;
      flowing = new Promise((resolve) => (heal = resolve));
      await new Promise((resolve) => setTimeout(resolve, ms));
      heal();
    },
    latency(ms) {
      latencyMs = ms;
    },
    reset() {
      for (const link of links) {
        link.dead = true;
        link.client.resetAndDestroy();
        link.server.resetAndDestroy();
      }
      links.clear();
    },
    heal() {
      dropNew = false;
    },
    openConnections: () => links.size,
    async close() {
      for (const link of links) {
        link.client.destroy();
        link.server.destroy();
      }
      links.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
