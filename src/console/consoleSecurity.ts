// Who may use the console, and how its actions are protected: bound to loopback it
// needs no credentials (unless a token is set); any other bind requires the token
// (OUTBOX_CONSOLE_TOKEN), as a bearer token or a basic-auth password. Actions are
// POSTs carrying the page's CSRF token, a JSON body and a same-origin Origin; on
// loopback without a token, the Host header must be a loopback name (no DNS rebinding).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { OutboxError } from '../errors.js';

export const CSRF_HEADER = 'x-outbox-csrf';
/** A token shorter than this is refused: it guards actions that replay and purge. */
const MIN_TOKEN_LENGTH = 16;

export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || bare.toLowerCase() === '::ffff:127.0.0.1';
  return false;
}

export interface ConsoleGuard {
  /** The per-process token the page sends back with each action. */
  csrfToken: string;
  /** Who is asking (for the audit log), or undefined when the credentials are missing or wrong. */
  authenticate(request: IncomingMessage): string | undefined;
  /** Why the request's Host is refused (loopback binds without a token only), or undefined. */
  refusedHost(request: IncomingMessage): string | undefined;
  /** Why an action (a POST) is refused, or undefined when it may run. */
  refusedAction(request: IncomingMessage): string | undefined;
}

const digest = (text: string) => createHash('sha256').update(text).digest();
const sameSecret = (given: string, expected: string) => timingSafeEqual(digest(given), digest(expected));

/** The guard for a console bound to `host` with `token` (undefined: none set). Refuses a non-loopback bind without a token. */
export function createConsoleGuard(host: string, token: string | undefined): ConsoleGuard {
  const loopback = isLoopbackHost(host);
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    throw new OutboxError('OUTBOX_INVALID_OPTIONS', `OUTBOX_CONSOLE_TOKEN is too short: use at least ${MIN_TOKEN_LENGTH} random characters`);
  }
  if (!loopback && token === undefined) {
    throw new OutboxError(
      'OUTBOX_INVALID_OPTIONS',
      `outbox console --host ${host} is reachable from other machines: it requires credentials. Set OUTBOX_CONSOLE_TOKEN to a long random secret ` +
        '(sent as "Authorization: Bearer <token>", or as the password of basic auth with any user name), or bind to 127.0.0.1.',
    );
  }
  const csrfToken = randomBytes(32).toString('hex');
  return {
    csrfToken,
    authenticate(request) {
      if (token === undefined) return 'loopback';
      const header = request.headers.authorization ?? '';
      const [scheme, value = ''] = header.split(' ', 2);
      if (scheme?.toLowerCase() === 'bearer') return sameSecret(value, token) ? 'token' : undefined;
      if (scheme?.toLowerCase() === 'basic') {
        const decoded = Buffer.from(value, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon < 0) return undefined;
        const user = decoded.slice(0, colon);
        return sameSecret(decoded.slice(colon + 1), token) ? user || 'token' : undefined;
      }
      return undefined;
    },
    refusedHost(request) {
      // With a token, a page on another site reaching us through DNS rebinding has no credentials:
      // any Host is fine (a reverse proxy keeps the public one).
      if (!loopback || token !== undefined) return undefined;
      const hostHeader = request.headers.host ?? '';
      const name = hostHeader.startsWith('[') ? hostHeader.slice(0, hostHeader.indexOf(']') + 1) : hostHeader.split(':')[0]!;
      return isLoopbackHost(name) ? undefined : `Host ${JSON.stringify(hostHeader)} is not a loopback name`;
    },
    refusedAction(request) {
      const given = request.headers[CSRF_HEADER];
      if (typeof given !== 'string' || !sameSecret(given, csrfToken)) return `missing or wrong ${CSRF_HEADER} header (reload the page)`;
      if (!(request.headers['content-type'] ?? '').toLowerCase().startsWith('application/json'))
        return 'actions take a JSON body (Content-Type: application/json)';
      const origin = request.headers.origin;
      if (origin !== undefined && origin !== 'null') {
        let originHost: string;
        try {
          originHost = new URL(origin).host;
        } catch {
          return `Origin ${JSON.stringify(origin)} is not a URL`;
        }
        if (originHost !== request.headers.host) return `cross-origin request from ${origin}`;
      } else if (origin === 'null') return 'cross-origin request from an opaque origin';
      const site = request.headers['sec-fetch-site'];
      if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return `cross-site request (Sec-Fetch-Site: ${site})`;
      return undefined;
    },
  };
}

/** Headers on every response: no framing, no sniffing, scripts and styles from the console itself only. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};
