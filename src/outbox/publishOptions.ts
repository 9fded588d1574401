import { z } from 'zod';
import { OutboxError, zodIssues } from '../errors.js';
import { unstorableText } from './serializePayload.js';

/** Options of one published message. */
export interface PublishOptions {
  /**
   * Ordering key (usually the aggregate id, e.g. the order id): messages sharing a
   * key are published in the order they were written. Up to 255 characters.
   */
  key?: string;
  /** Your own headers, delivered as AMQP headers. Names starting with "x-" are reserved for the broker. */
  headers?: Record<string, string | number | boolean>;
  /** Becomes the AMQP correlation-id (e.g. the id of the HTTP request that caused the event). */
  correlationId?: string;
  /** W3C trace context of the writing request, delivered as the `traceparent` header. */
  traceparent?: string;
  /** Do not publish before this instant (scheduled or delayed events). Default: at once. */
  availableAt?: Date;
}

// Text the outbox row stores (a text or jsonb column): no U+0000, valid Unicode.
const storableText = () =>
  z.string().superRefine((value, context) => {
    const problem = unstorableText(value);
    if (problem) context.addIssue({ code: 'custom', message: `must not be ${problem}` });
  });

// AMQP short strings (correlation-id, header names) are at most 255 bytes.
const shortString = (max: number) =>
  storableText()
    .min(1)
    .refine((value) => Buffer.byteLength(value, 'utf8') <= max, `at most ${max} bytes`);

const publishOptionsSchema = z.strictObject({
  key: shortString(255).optional(),
  headers: z
    .record(storableText(), z.union([storableText().max(65_536), z.number().finite(), z.boolean()]))
    .superRefine((headers, context) => {
      const names = Object.keys(headers);
      if (names.length > 64) context.addIssue({ code: 'custom', message: 'at most 64 headers' });
      for (const name of names) {
        if (name.toLowerCase().startsWith('x-')) {
          context.addIssue({ code: 'custom', path: [name], message: 'header names starting with "x-" are reserved for the broker' });
        } else if (name.length === 0 || Buffer.byteLength(name, 'utf8') > 128) {
          context.addIssue({ code: 'custom', path: [name], message: 'header names are 1 to 128 bytes' });
        }
      }
    })
    .optional(),
  correlationId: shortString(255).optional(),
  traceparent: z
    .string()
    .regex(/^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/, 'a W3C traceparent: 00-<32 hex>-<16 hex>-<2 hex>')
    .optional(),
  availableAt: z
    .date()
    .refine((date) => !Number.isNaN(date.getTime()), 'a valid Date')
    .optional(),
});

export interface ValidatedPublishOptions {
  orderingKey: string | null;
  /** What the relay turns into AMQP properties and headers. */
  headers: Record<string, string | number | boolean>;
  availableAt: Date | null;
}

export function validatePublishOptions(eventType: string, options: PublishOptions | undefined): ValidatedPublishOptions {
  const parsed = publishOptionsSchema.safeParse(options ?? {});
  if (!parsed.success) {
    const issues = zodIssues(parsed.error);
    throw new OutboxError(
      'OUTBOX_INVALID_OPTIONS',
      `event ${eventType}: invalid publish options: ${issues.map((issue) => `${issue.path.join('.') || '(options)'}: ${issue.message}`).join('; ')}`,
      { issues },
    );
  }
  const { key, headers, correlationId, traceparent, availableAt } = parsed.data;
  return {
    orderingKey: key ?? null,
    headers: {
      ...headers,
      ...(correlationId === undefined ? {} : { correlationId }),
      ...(traceparent === undefined ? {} : { traceparent }),
    },
    availableAt: availableAt ?? null,
  };
}
