// npm run demo -- [options]
import { parseArgs } from 'node:util';

export const USAGE = `npm run demo -- [options]
  --signups <n>        signups to send (default 150)
  --orders <n>         orders to send (default 300)
  --rate <n>           requests per second (default 50)
  --duration <s>       send for this long at --rate instead (1 signup : 2 orders)
  --fail-rate <f>      share of provider calls that fail (default 0.03)
  --latency <ms>       providers' base latency (default 40; webhook x2, analytics x0.25)
  --no-chaos           no fault injection
  --no-comparison      skip the inline-endpoint comparison
  --settle-timeout <s> how long to wait for every side effect (default 180)
  --attach             use the API, providers, relays and workers already running
                       (API_URL, PROVIDERS_URL), as under docker compose
  --break-inbox        self-test: handlers delete their inbox rows; the checks must fail`;

export interface DemoOptions {
  signups: number;
  orders: number;
  rate: number;
  failRate: number;
  latencyMs: number;
  chaos: boolean;
  comparison: boolean;
  settleTimeoutMs: number;
  attach: boolean;
  breakInbox: boolean;
}

export function parseDemoOptions(args: string[]): DemoOptions {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      signups: { type: 'string', default: '150' },
      orders: { type: 'string', default: '300' },
      rate: { type: 'string', default: '50' },
      duration: { type: 'string' },
      'fail-rate': { type: 'string', default: '0.03' },
      latency: { type: 'string', default: '40' },
      'no-chaos': { type: 'boolean', default: false },
      'no-comparison': { type: 'boolean', default: false },
      'settle-timeout': { type: 'string', default: '180' },
      attach: { type: 'boolean', default: false },
      'break-inbox': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const number = (name: string, text: string, min: number, max: number) => {
    const value = Number(text);
    if (!Number.isFinite(value) || value < min || value > max) throw new Error(`--${name} must be a number from ${min} to ${max}, got "${text}"`);
    return value;
  };
  const rate = number('rate', values.rate, 1, 5_000);
  let signups = Math.round(number('signups', values.signups, 1, 1_000_000));
  let orders = Math.round(number('orders', values.orders, 0, 1_000_000));
  if (values.duration !== undefined) {
    const total = Math.max(3, Math.round(number('duration', values.duration, 1, 86_400) * rate));
    signups = Math.ceil(total / 3);
    orders = total - signups;
  }
  return {
    signups,
    orders,
    rate,
    failRate: number('fail-rate', values['fail-rate'], 0, 0.5),
    latencyMs: number('latency', values.latency, 0, 10_000),
    chaos: !values['no-chaos'],
    comparison: !values['no-comparison'],
    settleTimeoutMs: number('settle-timeout', values['settle-timeout'], 5, 3_600) * 1000,
    attach: values.attach,
    breakInbox: values['break-inbox'],
  };
}
