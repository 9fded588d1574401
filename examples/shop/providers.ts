// The client side of the simulated third parties (examples/shop/providerServer.ts):
// the email service, the analytics collector and a partner's webhook. Every call
// carries an idempotency key; the provider does the work once per key.
export type ProviderName = 'email' | 'analytics' | 'webhook';

export class ProviderError extends Error {
  override name = 'ProviderError';
  constructor(
    readonly provider: ProviderName,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const TIMEOUT_MS = 5_000;

export function providersUrl(): string {
  return process.env.PROVIDERS_URL ?? 'http://127.0.0.1:3001';
}

/** Hands a provider a piece of work with its idempotency key: resolves once accepted, throws otherwise (retryable). */
export type CallProvider = (provider: ProviderName, subject: string, idempotencyKey: string) => Promise<void>;

/** Resolves when the provider accepted the work; throws ProviderError otherwise (retryable). */
export async function callProvider(provider: ProviderName, subject: string, idempotencyKey: string): Promise<void> {
  let response: Response;
  try {
    response = await fetch(`${providersUrl()}/${provider}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
      body: JSON.stringify({ subject }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    throw new ProviderError(provider, 0, `${provider}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!response.ok) throw new ProviderError(provider, response.status, `${provider} answered ${response.status}: ${await response.text()}`);
  await response.body?.cancel();
}
