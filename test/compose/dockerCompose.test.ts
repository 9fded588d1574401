// docker-compose.yml kept honest without Docker (no engine runs here): what can be
// checked by reading it, the Dockerfile and the code its containers run. Every
// command names a script or file that exists, with options the program takes;
// every environment variable a container's process reads is known, set where its
// default would point at the container itself, and consistent with the postgres
// and rabbitmq services (hosts, ports, credentials); health checks hit real
// endpoints; depends_on names real services. What only a Docker host can confirm:
// docs/docker.md.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import cron from 'node-cron';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseDurationText } from '../../src/cli/parseDuration.js';
import { environmentVariablesRead, sourceClosure } from './sourceClosure.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | number | boolean | null> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string[] | string };
  ports?: string[];
  volumes?: string[];
  restart?: string;
  container_name?: string;
}
interface ComposeFile {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

// `merge: true`: the file shares its app settings through `<<: *app` merge keys.
const compose = parse(read('docker-compose.yml'), { merge: true }) as ComposeFile;
const services = Object.entries(compose.services);
const packageJson = JSON.parse(read('package.json')) as {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

const argv = (value: string[] | string | undefined): string[] | undefined =>
  value === undefined ? undefined : Array.isArray(value) ? value.map(String) : value.split(/\s+/).filter(Boolean);

const environmentOf = (service: Service): Record<string, string> => {
  const env = service.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((entry) => [entry.split('=')[0]!, entry.split('=').slice(1).join('=')]));
  return Object.fromEntries(
    Object.entries(env)
      .filter(([, value]) => value !== null)
      .map(([name, value]) => [name, String(value)]),
  );
};

const dependsOn = (service: Service): Record<string, string> => {
  const deps = service.depends_on ?? [];
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((name) => [name, 'service_started']));
  return Object.fromEntries(Object.entries(deps).map(([name, options]) => [name, options?.condition ?? 'service_started']));
};

// The Dockerfile every `build` service uses.
const buildContext = (service: Service) => (typeof service.build === 'string' ? service.build : (service.build?.context ?? '.'));
const dockerfilePath = (service: Service) =>
  path.posix.join(buildContext(service), typeof service.build === 'object' && service.build.dockerfile ? service.build.dockerfile : 'Dockerfile');
const dockerfile = existsSync(path.join(ROOT, 'Dockerfile')) ? read('Dockerfile') : '';
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'))
  .map((line) => ({ keyword: line.split(/\s+/)[0]!.toUpperCase(), rest: line.slice(line.split(/\s+/)[0]!.length).trim() }));
const imageCmd = (() => {
  const cmd = instructions.filter((instruction) => instruction.keyword === 'CMD').at(-1)?.rest;
  return cmd === undefined ? undefined : cmd.startsWith('[') ? (JSON.parse(cmd) as string[]) : ['/bin/sh', '-c', cmd];
})();
const dockerignore = existsSync(path.join(ROOT, '.dockerignore'))
  ? read('.dockerignore')
      .split('\n')
      .map((line) => line.trim().replace(/^\//, '').replace(/\/$/, ''))
      .filter((line) => line !== '' && !line.startsWith('#'))
  : [];
const ignoredByDocker = (file: string) => dockerignore.some((pattern) => file === pattern || file.startsWith(`${pattern}/`));

/** What the container runs: compose's entrypoint (which clears the image's CMD) and command, else the image's CMD. */
function processArgv(service: Service): string[] | undefined {
  const entrypoint = argv(service.entrypoint);
  const command = argv(service.command);
  if (entrypoint) return [...entrypoint, ...(command ?? [])];
  return command ?? (service.build !== undefined ? imageCmd : undefined);
}

interface Program {
  /** The repository file the process runs, e.g. src/cli/main.ts. */
  entry: string;
  args: string[];
  /** How it was reached, for messages. */
  via: string;
}

/** The program behind `npx tsx <file>`, `npm run <script>` (followed into package.json), `node <file>`, `bash <file>`. */
function programOf(commandLine: string[], via: string[] = []): { program?: Program; problems: string[] } {
  const [first, ...rest] = commandLine;
  const trail = [...via, commandLine.join(' ')].join(' -> ');
  if (first === 'npm' && rest[0] === 'run') {
    const args = rest.slice(1).filter((arg) => arg !== '-s' && arg !== '--silent');
    const [script, ...scriptArgs] = args;
    const body = script === undefined ? undefined : packageJson.scripts[script];
    if (body === undefined) return { problems: [`${trail}: no npm script ${JSON.stringify(script)} in package.json`] };
    const passed = scriptArgs[0] === '--' ? scriptArgs.slice(1) : scriptArgs;
    return programOf([...body.split(/\s+/), ...passed], [...via, commandLine.join(' ')]);
  }
  // npx's own flags (`npx -y tsx ...`) come before the program's name.
  const tokens = first === 'npx' ? rest.slice(rest.findIndex((token) => !token.startsWith('-'))) : commandLine;
  const runners = ['tsx', 'node', 'bash', 'sh', 'node_modules/.bin/tsx'];
  if (!runners.includes(tokens[0] ?? '')) return { problems: [`${trail}: not a command this test can follow (${tokens[0]})`] };
  if (tokens[0]!.endsWith('tsx') && !packageJson.dependencies.tsx && !packageJson.devDependencies.tsx) {
    return { problems: [`${trail}: tsx is not in package.json`] };
  }
  const fileIndex = tokens.findIndex((token, index) => index > 0 && !token.startsWith('-'));
  const entry = tokens[fileIndex];
  if (entry === undefined) return { problems: [`${trail}: names no file to run`] };
  if (!existsSync(path.join(ROOT, entry))) return { problems: [`${trail}: ${entry} does not exist`] };
  if (ignoredByDocker(entry)) return { problems: [`${trail}: ${entry} is excluded from the image by .dockerignore`] };
  return { program: { entry, args: tokens.slice(fileIndex + 1), via: trail }, problems: [] };
}

/** The `outbox` CLI's sub-commands, from its dispatch table. */
const cliCommands = (() => {
  const table = /const commands[^\n]*=\s*\{\n([\s\S]*?)\n\};/.exec(read('src/cli/main.ts'))?.[1] ?? '';
  return new Set([...table.matchAll(/^\s*'?([a-z][a-z-]*)'?\s*:/gm)].map((match) => match[1]!));
})();

/** Every --option the program is given must be one it knows (named in its code); returns the files it loads. */
function checkProgram(program: Program): { problems: string[]; loaded: string[] } {
  const problems: string[] = [];
  const entries = [program.entry];
  const { args } = program;
  if (program.entry === 'src/cli/main.ts') {
    if (!cliCommands.has(args[0] ?? '')) problems.push(`${program.via}: "${args[0]}" is not an outbox command (${[...cliCommands].join(', ')})`);
  }
  args.forEach((arg, index) => {
    const value = args[index + 1];
    if (arg === '--config') {
      if (value === undefined || !existsSync(path.join(ROOT, value))) problems.push(`${program.via}: --config ${value}: no such file`);
      else entries.push(value);
    }
    if (arg === '--schedule' && (value === undefined || !cron.validate(value)))
      problems.push(`${program.via}: --schedule ${value}: not a cron expression node-cron accepts`);
    if (arg === '--grace' && (value === undefined || parseDurationText(value) === undefined)) problems.push(`${program.via}: --grace ${value}: not a duration`);
  });
  if (!program.entry.endsWith('.ts')) return { problems, loaded: entries };
  const closure = sourceClosure(ROOT, entries);
  problems.push(...closure.missing.map((missing) => `${program.via}: import of a missing file: ${missing}`));
  for (const option of args.filter((arg) => arg.startsWith('--')).map((arg) => arg.slice(2))) {
    const known = closure.text.includes(`--${option}`) && new RegExp(`['"]?${option}['"]?\\s*:\\s*\\{\\s*type`).test(closure.text);
    if (!known) problems.push(`${program.via}: --${option} is not an option of ${program.entry}`);
  }
  for (const file of closure.files) if (ignoredByDocker(file)) problems.push(`${program.via}: loads ${file}, which .dockerignore leaves out of the image`);
  return { problems, loaded: closure.files };
}

const appServices = services.filter(([, service]) => processArgv(service) !== undefined && service.build !== undefined);
const programs = new Map(
  appServices.map(([name, service]) => {
    const { program, problems } = programOf(processArgv(service)!);
    return [name, { program, problems }] as const;
  }),
);

const isImage = (service: Service, image: string) =>
  service.image !== undefined && new RegExp(`^(docker\\.io/)?(library/)?${image}(:|@|$)`).test(service.image);

// The servers, and what the official images make of their settings.
const [postgresName, postgres] = services.find(([, service]) => isImage(service, 'postgres')) ?? [];
const [rabbitName, rabbit] = services.find(([, service]) => isImage(service, 'rabbitmq')) ?? [];
const postgresEnv = postgres ? environmentOf(postgres) : {};
const rabbitEnv = rabbit ? environmentOf(rabbit) : {};
const postgresUser = postgresEnv.POSTGRES_USER ?? 'postgres';
const postgresDatabase = postgresEnv.POSTGRES_DB ?? postgresUser;
const rabbitUser = rabbitEnv.RABBITMQ_DEFAULT_USER ?? 'guest';
const rabbitPassword = rabbitEnv.RABBITMQ_DEFAULT_PASS ?? 'guest';
const rabbitVhost = rabbitEnv.RABBITMQ_DEFAULT_VHOST ?? '/';

/** The service running a given program file, and the port it listens on (its PORT). */
function listener(entry: string): { name: string; port: string | undefined } | undefined {
  const found = [...programs].find(([, { program }]) => program?.entry === entry);
  if (!found) return undefined;
  return { name: found[0], port: environmentOf(compose.services[found[0]]!).PORT };
}

const urlProblems = (name: string, url: URL, expected: { host?: string; port: string; protocol: string[] }) => {
  const problems: string[] = [];
  if (!expected.protocol.includes(url.protocol)) problems.push(`${name}: ${url.protocol} is not ${expected.protocol.join(' or ')}`);
  if (url.hostname !== expected.host) problems.push(`${name}: host ${url.hostname} is not the ${expected.host ?? '(missing)'} service`);
  if ((url.port || defaultPort(url.protocol)) !== expected.port)
    problems.push(`${name}: port ${url.port || defaultPort(url.protocol)} is not ${expected.port}`);
  return problems;
};
const defaultPort = (protocol: string) => ({ 'http:': '80', 'postgresql:': '5432', 'postgres:': '5432', 'amqp:': '5672', 'amqps:': '5671' })[protocol] ?? '';

/**
 * Every variable a container's code may read, and what a correct value is here.
 * `required`: the code's default points at the container itself (127.0.0.1) or
 * there is none, so compose must set it. A variable read but not listed fails the
 * test: decide what it needs in a container, then list it.
 */
const VARIABLES: Record<string, { required: boolean; check(value: string): string[] }> = {
  DATABASE_URL: {
    required: true,
    check(value) {
      const url = new URL(value);
      return [
        ...urlProblems('DATABASE_URL', url, { host: postgresName, port: '5432', protocol: ['postgresql:', 'postgres:'] }),
        ...(decodeURIComponent(url.username) === postgresUser ? [] : [`DATABASE_URL: user ${url.username} is not POSTGRES_USER ${postgresUser}`]),
        ...(decodeURIComponent(url.password) === (postgresEnv.POSTGRES_PASSWORD ?? '') ? [] : ['DATABASE_URL: the password is not POSTGRES_PASSWORD']),
        ...(url.pathname.slice(1) === postgresDatabase ? [] : [`DATABASE_URL: database ${url.pathname.slice(1)} is not POSTGRES_DB ${postgresDatabase}`]),
      ];
    },
  },
  AMQP_URL: {
    required: true,
    check(value) {
      return value.split(',').flatMap((node) => {
        const url = new URL(node.trim());
        const vhost = decodeURIComponent(url.pathname.slice(1)) || '/';
        return [
          ...urlProblems('AMQP_URL', url, { host: rabbitName, port: '5672', protocol: ['amqp:'] }),
          ...(decodeURIComponent(url.username) === rabbitUser && decodeURIComponent(url.password) === rabbitPassword
            ? []
            : [`AMQP_URL: credentials are not the rabbitmq service's (${rabbitUser} / its password)`]),
          ...(vhost === rabbitVhost ? [] : [`AMQP_URL: vhost ${vhost} is not ${rabbitVhost}`]),
        ];
      });
    },
  },
  RABBITMQ_MANAGEMENT_URL: {
    // Derived from AMQP_URL when unset (same host, port 15672, its credentials).
    required: false,
    check(value) {
      const url = new URL(value);
      return [
        ...urlProblems('RABBITMQ_MANAGEMENT_URL', url, { host: rabbitName, port: '15672', protocol: ['http:'] }),
        ...(rabbit?.image?.includes('management')
          ? []
          : [`RABBITMQ_MANAGEMENT_URL: the ${rabbitName} image (${rabbit?.image}) has no management plugin enabled`]),
        // Without credentials, they come from AMQP_URL (checked against the broker's above).
        ...(url.username === '' || (decodeURIComponent(url.username) === rabbitUser && decodeURIComponent(url.password) === rabbitPassword)
          ? []
          : ["RABBITMQ_MANAGEMENT_URL: credentials are not the rabbitmq service's"]),
      ];
    },
  },
  PROVIDERS_URL: {
    required: true,
    check(value) {
      const providers = listener('examples/shop/providerServer.ts');
      return urlProblems('PROVIDERS_URL', new URL(value), { host: providers?.name, port: providers?.port ?? '(no PORT)', protocol: ['http:'] });
    },
  },
  API_URL: {
    required: true,
    check(value) {
      const api = listener('examples/shop/apiServer.ts');
      return urlProblems('API_URL', new URL(value), { host: api?.name, port: api?.port ?? '(no PORT)', protocol: ['http:'] });
    },
  },
  PORT: { required: true, check: (value) => (/^\d+$/.test(value) ? [] : [`PORT ${value} is not a port`]) },
  LOG_LEVEL: {
    required: false,
    check: (value) => (['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(value) ? [] : [`LOG_LEVEL ${value} is not a pino level`]),
  },
  PROVIDER_LATENCY_MS: { required: false, check: (value) => (Number(value) >= 0 ? [] : [`PROVIDER_LATENCY_MS ${value}`]) },
  PROVIDER_FAIL_RATE: { required: false, check: (value) => (Number(value) >= 0 && Number(value) <= 1 ? [] : [`PROVIDER_FAIL_RATE ${value} is not in [0, 1]`]) },
  // The demo's self-test switch: handlers break their own inbox. Never on in compose.
  DEMO_BREAK_INBOX: { required: false, check: (value) => (value === '1' ? ['DEMO_BREAK_INBOX=1 breaks the inbox on purpose'] : []) },
  // How often the relay and the worker log their info summary.
  OUTBOX_SUMMARY_INTERVAL: {
    required: false,
    check: (value) => (/^\d+(ms|s|m|h|d)$/.test(value) ? [] : [`OUTBOX_SUMMARY_INTERVAL ${value} is not a duration`]),
  },
  // `outbox console`'s credentials; no compose service runs the console (it listens on loopback without one).
  OUTBOX_CONSOLE_TOKEN: { required: false, check: (value) => (value.length >= 16 ? [] : ['OUTBOX_CONSOLE_TOKEN is shorter than 16 characters']) },
  // Only for `prisma generate` offline (scripts/generateClient.ts sets its own).
  PRISMA_SCHEMA_ENGINE_BINARY: { required: false, check: () => [] },
};

describe('docker-compose.yml', () => {
  it('parses, and names the postgres and rabbitmq services the app connects to', () => {
    expect(services.length).toBeGreaterThan(0);
    expect(postgresName).toBeDefined();
    expect(rabbitName).toBeDefined();
  });

  it('builds from a Dockerfile that exists', () => {
    for (const [name, service] of services) {
      if (service.build === undefined) continue;
      expect(existsSync(path.join(ROOT, dockerfilePath(service))), `${name}: ${dockerfilePath(service)}`).toBe(true);
    }
  });

  it.each(appServices.map(([name]) => name))('%s: runs a program that exists, with options it takes', (name) => {
    const { program, problems } = programs.get(name)!;
    const all = [...problems, ...(program ? checkProgram(program).problems : [])];
    expect(all).toEqual([]);
  });

  it('depends only on services that exist, with conditions they can meet', () => {
    const problems: string[] = [];
    for (const [name, service] of services) {
      for (const [dependency, condition] of Object.entries(dependsOn(service))) {
        const target = compose.services[dependency];
        if (!target) problems.push(`${name} depends on ${dependency}: no such service`);
        else if (condition === 'service_healthy' && !target.healthcheck?.test)
          problems.push(`${name} waits for ${dependency} to be healthy: it has no health check`);
        else if (condition === 'service_completed_successfully' && ['always', 'unless-stopped'].includes(target.restart ?? '')) {
          problems.push(`${name} waits for ${dependency} to complete: it restarts (${target.restart})`);
        } else if (!['service_started', 'service_healthy', 'service_completed_successfully'].includes(condition))
          problems.push(`${name}: condition ${condition}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('sets every variable the processes read, consistently with the postgres and rabbitmq services', () => {
    const problems: string[] = [];
    const shared = new Map<string, Map<string, string[]>>();
    for (const [name, service] of appServices) {
      const { program } = programs.get(name)!;
      if (!program?.entry.endsWith('.ts')) continue;
      const env = environmentOf(service);
      const { loaded } = checkProgram(program);
      const readVariables = environmentVariablesRead(sourceClosure(ROOT, loaded).text);
      for (const variable of readVariables) {
        const rule = VARIABLES[variable];
        if (!rule) {
          problems.push(`${name}: reads ${variable}, which this test does not know: add it to VARIABLES with what a container needs`);
          continue;
        }
        const value = env[variable];
        if (value === undefined) {
          if (rule.required) problems.push(`${name}: reads ${variable}, which is not set (its default would point at the container itself)`);
          continue;
        }
        problems.push(...rule.check(value).map((problem) => `${name}: ${problem}`));
        if (!shared.has(variable)) shared.set(variable, new Map());
        shared.get(variable)!.set(value, [...(shared.get(variable)!.get(value) ?? []), name]);
      }
    }
    // One database and one broker for the whole shop.
    for (const variable of ['DATABASE_URL', 'AMQP_URL']) {
      const values = shared.get(variable);
      if (values && values.size > 1) problems.push(`${variable} differs between services: ${JSON.stringify(Object.fromEntries(values))}`);
    }
    expect(problems).toEqual([]);
  });

  // Events relayed before a consumer's queue exists are not routed to it, and are not
  // owed to a consumer registered after they were written: `outbox setup` must
  // complete before anything relays, writes events or consumes.
  it('runs outbox setup before the relays, workers, reconciler and the API start', () => {
    const problems: string[] = [];
    const running = (entry: string, command?: string) =>
      [...programs].filter(([, { program }]) => program?.entry === entry && (command === undefined || program.args[0] === command)).map(([name]) => name);
    const setup = running('src/cli/main.ts', 'setup');
    if (setup.length !== 1) problems.push(`${setup.length} services run outbox setup`);
    const waiting = ['relay', 'worker', 'reconcile'].flatMap((command) => running('src/cli/main.ts', command)).concat(running('examples/shop/apiServer.ts'));
    for (const name of waiting) {
      if (setup[0] !== undefined && dependsOn(compose.services[name]!)[setup[0]] !== 'service_completed_successfully') {
        problems.push(`${name} does not wait for ${setup[0]} to complete`);
      }
    }
    expect(waiting.length).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });

  it('health checks call endpoints and commands that exist', () => {
    const problems: string[] = [];
    for (const [name, service] of services) {
      const test = argv(service.healthcheck?.test);
      if (!test) continue;
      const [kind, ...command] = test;
      const line = kind === 'CMD-SHELL' ? command.join(' ').split(/\s+/) : command;
      if (!['CMD', 'CMD-SHELL'].includes(kind!)) problems.push(`${name}: health check ${kind}`);
      if (line[0] === 'pg_isready') {
        const option = (flag: string) => line[line.indexOf(flag) + 1];
        if (service !== postgres) problems.push(`${name}: pg_isready outside the postgres image`);
        if (option('-U') !== postgresUser) problems.push(`${name}: pg_isready -U ${option('-U')} is not POSTGRES_USER ${postgresUser}`);
        if (line.includes('-d') && option('-d') !== postgresDatabase)
          problems.push(`${name}: pg_isready -d ${option('-d')} is not POSTGRES_DB ${postgresDatabase}`);
      } else if (line[0] === 'rabbitmq-diagnostics') {
        // Commands of rabbitmq-diagnostics that answer "is this node up" (RabbitMQ 3.8+).
        const known = ['ping', 'status', 'check_running', 'check_local_alarms', 'check_port_connectivity', 'check_virtual_hosts'];
        if (service !== rabbit) problems.push(`${name}: rabbitmq-diagnostics outside the rabbitmq image`);
        if (!known.includes(line.filter((arg) => !arg.startsWith('-'))[1] ?? '')) problems.push(`${name}: rabbitmq-diagnostics ${line.slice(1).join(' ')}`);
      } else if (line[0] === 'node') {
        const url = /https?:\/\/[^'"\s)]+/.exec(line.join(' '))?.[0];
        const { program } = programs.get(name) ?? {};
        if (!url || !program) {
          problems.push(`${name}: a node health check needs a URL and a program to answer it`);
          continue;
        }
        const target = new URL(url);
        const port = environmentOf(service).PORT;
        if (!['127.0.0.1', 'localhost'].includes(target.hostname)) problems.push(`${name}: health check calls ${target.hostname}, not the container itself`);
        if (target.port !== port) problems.push(`${name}: health check calls port ${target.port}, the process listens on PORT ${port}`);
        if (!read(program.entry).includes(`'${target.pathname}'`)) problems.push(`${name}: ${program.entry} does not answer ${target.pathname}`);
        if (!/^FROM\s+node:/im.test(dockerfile)) problems.push(`${name}: the image is not a node image`);
      } else {
        problems.push(`${name}: a health check this test does not know: ${line.join(' ')}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('publishes the ports its processes listen on, and declares its volumes', () => {
    const problems: string[] = [];
    const listens: Record<string, string | undefined> = { [postgresName ?? '']: '5432', [rabbitName ?? '']: '5672 15672' };
    for (const [name, service] of services) {
      for (const mapping of service.ports ?? []) {
        const containerPort = String(mapping).split(':').at(-1)!.split('/')[0]!;
        const expected = listens[name] ?? environmentOf(service).PORT;
        if (!expected?.split(' ').includes(containerPort)) problems.push(`${name}: publishes ${containerPort}, listens on ${expected}`);
      }
      for (const volume of service.volumes ?? []) {
        const source = String(volume).split(':')[0]!;
        if (!source.startsWith('.') && !source.startsWith('/') && !(compose.volumes && source in compose.volumes))
          problems.push(`${name}: volume ${source} is not declared`);
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('Dockerfile', () => {
  it('copies what exists, installs the dev tools the services run (tsx) before NODE_ENV=production, and generates the client', () => {
    const problems: string[] = [];
    for (const { keyword, rest } of instructions) {
      if (keyword === 'COPY' && !rest.startsWith('--from')) {
        const sources = rest
          .split(/\s+/)
          .filter((arg) => !arg.startsWith('--'))
          .slice(0, -1);
        for (const source of sources) if (source !== '.' && !existsSync(path.join(ROOT, source))) problems.push(`COPY ${source}: no such file`);
      }
      if (keyword === 'RUN') {
        for (const script of rest.matchAll(/npm run (?:-s )?([\w:-]+)/g))
          if (!packageJson.scripts[script[1]!]) problems.push(`RUN: no npm script ${script[1]}`);
      }
    }
    const at = (pattern: RegExp) => instructions.findIndex((instruction) => pattern.test(`${instruction.keyword} ${instruction.rest}`));
    const install = at(/^RUN .*npm (ci|install)/);
    const production = at(/^ENV .*NODE_ENV[= ]production/);
    if (install === -1) problems.push('no npm ci');
    if (production !== -1 && production < install && !packageJson.dependencies.tsx)
      problems.push('NODE_ENV=production before npm ci: devDependencies (tsx) would not be installed');
    if (at(/^RUN .*db:generate/) === -1) problems.push('the Prisma client is never generated in the image');
    // The host's node_modules and generated client must not overwrite the image's.
    for (const folder of ['node_modules', 'generated']) if (!dockerignore.includes(folder)) problems.push(`.dockerignore does not leave out ${folder}`);
    // Node within package.json's engines (the tag names a major version only).
    const major = Number(/^FROM\s+node:(\d+)/im.exec(dockerfile)?.[1]);
    if (!(major >= 20)) problems.push(`node:${major} is older than engines' 20.19`);
    expect(problems).toEqual([]);
  });
});
