// Extra RabbitMQ nodes beside the machine's own broker: a 3-node cluster (ports
// 5681-5683) for quorum-queue replication and node failure, or a single node with
// its own listener configuration (TLS). The recipe is in ../shared/ENVIRONMENT.md.
// The default node on 5672 is never touched.
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface RabbitNode {
  name: string;
  stop(): Promise<void>;
}

function ctl(node: string, ...args: string[]) {
  return run('rabbitmqctl', ['-q', '-n', node, ...args], { timeout: 120_000 });
}

/** await_startup refuses a node that has not reached epmd yet: retry until it has. */
async function awaitStartup(node: string): Promise<void> {
  for (let until = Date.now() + 90_000; ;) {
    try {
      await ctl(node, 'await_startup');
      return;
    } catch (error) {
      if (Date.now() > until) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
}

/**
 * Starts one node named `<short>@localhost` in `folder`, with `config` as its
 * rabbitmq.conf (the machine's /etc/rabbitmq/rabbitmq.conf pins a listener to 5672,
 * so every extra node needs its own). Files the config names must be in `folder`.
 */
export async function startRabbitNode(
  short: string,
  distPort: number,
  folder: string,
  config: string,
  plugins: readonly string[] = ['rabbitmq_consistent_hash_exchange'],
): Promise<RabbitNode> {
  const name = `${short}@localhost`;
  await ctl(name, 'stop').catch(() => {}); // a leftover of a run that died would hold the ports
  mkdirSync(`${folder}/log`, { recursive: true });
  // Ordered consumers need the consistent-hash exchange; nothing else (no management listener to collide).
  writeFileSync(`${folder}/enabled_plugins`, `[${plugins.join(',')}].\n`);
  writeFileSync(`${folder}/rabbitmq.conf`, config);
  await run('chown', ['-R', 'rabbitmq:rabbitmq', folder]);
  // runuser, not the rabbitmq-server wrapper: the node runs as rabbitmq with these settings.
  await run(
    'runuser',
    [
      '-u',
      'rabbitmq',
      '--',
      'env',
      'HOME=/var/lib/rabbitmq',
      `RABBITMQ_NODENAME=${name}`,
      `RABBITMQ_DIST_PORT=${distPort}`,
      `RABBITMQ_MNESIA_BASE=${folder}/mnesia`,
      `RABBITMQ_LOG_BASE=${folder}/log`,
      `RABBITMQ_PID_FILE=${folder}/pid`,
      `RABBITMQ_ENABLED_PLUGINS_FILE=${folder}/enabled_plugins`,
      `RABBITMQ_CONFIG_FILE=${folder}/rabbitmq.conf`,
      '/usr/lib/rabbitmq/bin/rabbitmq-server',
      '-detached',
    ],
    { timeout: 60_000 },
  );
  const node = { name, stop: async () => void (await ctl(name, 'stop').catch(() => {})) };
  try {
    await awaitStartup(name);
  } catch (error) {
    await node.stop();
    throw error;
  }
  return node;
}

const LETTERS = ['a', 'b', 'c'] as const;
type NodeLetter = (typeof LETTERS)[number];

export interface RabbitCluster {
  /** One AMQP URL per node, in node order. */
  urls: string[];
  stopNode(letter: NodeLetter): Promise<void>;
  /** `rabbitmqctl list_queues` on a node: depths, type, leader. */
  listQueues(letter: NodeLetter): Promise<string>;
  /** Stops every node and deletes the scratch folder; safe to call twice. */
  destroy(): Promise<void>;
}

export async function startRabbitCluster(): Promise<RabbitCluster> {
  const base = `/tmp/outbox-rabbit-cluster-${process.pid}`;
  const port = (letter: NodeLetter) => 5681 + LETTERS.indexOf(letter);
  const nodes: RabbitNode[] = [];
  const destroy = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    rmSync(base, { recursive: true, force: true });
  };
  try {
    for (const letter of LETTERS) {
      nodes.push(
        await startRabbitNode(`rmq${letter}`, 25681 + LETTERS.indexOf(letter), `${base}/${letter}`, `listeners.tcp.local = 127.0.0.1:${port(letter)}\n`),
      );
    }
    for (const node of nodes.slice(1)) {
      await ctl(node.name, 'stop_app');
      await ctl(node.name, 'join_cluster', nodes[0]!.name);
      await ctl(node.name, 'start_app');
    }
  } catch (error) {
    await destroy();
    throw error;
  }
  return {
    urls: LETTERS.map((letter) => `amqp://guest:guest@127.0.0.1:${port(letter)}`),
    stopNode: (letter) => nodes[LETTERS.indexOf(letter)]!.stop(),
    listQueues: async (letter) =>
      (
        await ctl(
          nodes[LETTERS.indexOf(letter)]!.name,
          'list_queues',
          'name',
          'type',
          'messages_ready',
          'messages_unacknowledged',
          'leader',
          'members',
          'online',
        )
      ).stdout,
    destroy,
  };
}
