// The words a user reads when the compiler refuses their code: tsc runs on a small
// app file that makes each mistake once, and each error must say what to do.
import { beforeAll, describe, expect, it } from 'vitest';
import { compileApp, repo, type CompilerError } from './compileApp.js';

// An app's code, importing the package entry and a generated Prisma client.
const appSource = `
import { z } from 'zod';
import type { Prisma, PrismaClient } from '${repo}/generated/prisma/client.js';
import { createOutbox, defineEvent, outboxExtension } from '${repo}/src/index.js';

const orderPlaced = defineEvent('order.placed', z.object({ orderId: z.string() }));
const userSignedUp = defineEvent('user.signed-up', z.object({ userId: z.string() }));
const outbox = createOutbox({ events: [orderPlaced, userSignedUp] });
const defineConsumer = outbox.consumers<Prisma.TransactionClient>();

export const typo = defineConsumer({ name: 'typo', events: ['order.plcaed'], async handle() {} });
export const wrongField = defineConsumer({
  name: 'wrong-field',
  events: ['order.placed'],
  async handle({ event }) {
    console.log(event.payload.userId);
  },
});

export async function rootClient(prisma: PrismaClient) {
  await outbox.publish(prisma, 'order.placed', { orderId: 'o-1' });
  await outbox.publishMany(prisma, [{ event: 'order.placed', payload: { orderId: 'o-1' } }]);
  await prisma.$extends(outboxExtension(outbox)).$publish('order.placed', { orderId: 'o-1' });
}
`;

let errors: CompilerError[];

beforeAll(async () => {
  errors = await compileApp(appSource);
}, 120_000);

const errorsOn = (fragment: string) => errors.filter((error) => error.line.includes(fragment)).map((error) => error.message);

describe('compiler messages', () => {
  it('refuses nothing else in the file', () => {
    expect(errors.map((error) => error.line)).toEqual([
      expect.stringContaining("'order.plcaed'"),
      expect.stringContaining('event.payload.userId'),
      expect.stringContaining('outbox.publish(prisma'),
      expect.stringContaining('outbox.publishMany(prisma'),
      expect.stringContaining('$publish('),
    ]);
  });

  it('root client passed to publish, publishMany or $publish: "pass the transaction client (`tx`)"', () => {
    for (const call of ['outbox.publish(prisma', 'outbox.publishMany(prisma', '$publish(']) {
      expect(errorsOn(call)).toEqual([expect.stringContaining('pass the transaction client (`tx`)')]);
    }
  });

  it('a pattern that matches no event names the pattern', () => {
    expect(errorsOn("'order.plcaed'")).toEqual([expect.stringContaining('pattern \\"order.plcaed\\" matches no event of the catalog')]);
  });

  it('a payload field the subscribed event does not have names the payload type', () => {
    expect(errorsOn('event.payload.userId')).toEqual([expect.stringContaining("Property 'userId' does not exist on type '{ orderId: string; }'")]);
  });
});
