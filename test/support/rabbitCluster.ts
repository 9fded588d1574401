// A 3-node RabbitMQ cluster beside the machine's own broker (ports 5681-5683),
// for quorum-queue replication and node-failure tests; the recipe is in
// ../shared/ENVIRONMENT.md. The default node on 5672 is never touched.
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);
const NODES = ['a', 'b', 'c'] as const;
type NodeLetter = (typeof NODES)[number];

export interface RabbitCluster {
  /** One AMQP URL per node, in node order. */
  urls: string[];
  nodeName(letter: NodeLetter): string;
  stopNode(letter: NodeLetter): Promise<void>;
  /** Stops every node and deletes the scratch folder; safe to call twice. */
  destroy(): Promise<void>;
}

const nodeName = (letter: NodeLetter) => `rmq${letter}@localhost`;
const port = (letter: NodeLetter) => 5681 + NODES.indexOf(letter);

function ctl(letter: NodeLetter, ...args: string[]) {
  return run('rabbitmqctl', ['-q', '-n', nodeName(letter), ...args], { timeout: 120_000 });
}

/** await_startup refuses a node that has not reached epmd yet: retry until it has. */
async function awaitStartup(letter: NodeLetter): Promise<void> {
  for (let until = Date.now() + 90_000; ; ) {
    try {
      await ctl(letter, 'await_startup');
      return;
    } catch (error) {
      if (Date.now() > until) throw error;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
}

export async function startRabbitCluster(): Promise<RabbitCluster> {
  const base = `/tmp/outbox-rabbit-cluster-${process.pid}`;
  const destroy = async () => {
    await Promise.all(NODES.map((letter) => ctl(letter, 'stop').catch(() => {})));
    rmSync(base, { recursive: true, force: true });
  };
  // Leftovers of an earlier run that died would hold the ports.
  await Promise.all(NODES.map((letter) => ctl(letter, 'stop').catch(() => {})));
  try {
    for (const letter of NODES) {
      const folder = `${base}/${letter}`;
      mkdirSync(`${folder}/log`, { recursive: true });
      writeFileSync(`${folder}/enabled_plugins`, '[].\n');
      // Its own config: the machine's /etc/rabbitmq/rabbitmq.conf pins the listener to 5672.
      writeFileSync(`${folder}/rabbitmq.conf`, `listeners.tcp.local = 127.0.0.1:${port(letter)}\n`);
      await run('chown', ['-R', 'rabbitmq:rabbitmq', base]);
      await run(
        'runuser',
        [
          '-u', 'rabbitmq', '--', 'env',
          'HOME=/var/lib/rabbitmq',
          `RABBITMQ_NODENAME=${nodeName(letter)}`,
          `RABBITMQ_NODE_PORT=${port(letter)}`,
          `RABBITMQ_DIST_PORT=${25681 + NODES.indexOf(letter)}`,
          `RABBITMQ_MNESIA_BASE=${folder}/mnesia`,
          `RABBITMQ_LOG_BASE=${folder}/log`,
          `RABBITMQ_PID_FILE=${folder}/pid`,
          `RABBITMQ_ENABLED_PLUGINS_FILE=${folder}/enabled_plugins`,
          `RABBITMQ_CONFIG_FILE=${folder}/rabbitmq.conf`,
          '/usr/lib/rabbitmq/bin/rabbitmq-server', '-detached',
        ],
        { timeout: 60_000 },
      );
    }
    await Promise.all(NODES.map((letter) => awaitStartup(letter)));
    for (const letter of ['b', 'c'] as const) {
      await ctl(letter, 'stop_app');
      await ctl(letter, 'join_cluster', nodeName('a'));
      await ctl(letter, 'start_app');
    }
  } catch (error) {
    await destroy();
    throw error;
  }
  return {
    urls: NODES.map((letter) => `amqp://guest:guest@127.0.0.1:${port(letter)}`),
    nodeName,
    stopNode: async (letter) => void (await ctl(letter, 'stop')),
    destroy,
  };
}
