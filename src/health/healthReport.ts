// What a long-running component says about itself on GET /health: each check from
// in-memory state its loops keep up to date (no I/O on the request, so a health
// probe never adds load or hangs), unhealthy when any check fails.

export interface HealthCheck {
  ok: boolean;
  /** Why not ok, or what ok rests on (e.g. "last batch 1.2 s ago"). */
  detail?: string;
}

export interface HealthReport {
  healthy: boolean;
  component: string;
  checks: Record<string, HealthCheck>;
}

export function healthReport(component: string, checks: Record<string, HealthCheck>): HealthReport {
  return { healthy: Object.values(checks).every((check) => check.ok), component, checks };
}

/** Something that can say whether it is healthy: a relay, a worker, a reconciler. */
export interface HealthSource {
  health(): HealthReport;
}

/**
 * Remembers when a resource last answered and the last failure since: "ok" while
 * the last attempt succeeded, or failures have lasted less than `toleranceMs`
 * (a blip is not an outage).
 */
export function createReachability(toleranceMs: number) {
  let lastOkAt: number | undefined;
  let failingSince: number | undefined;
  let lastError: string | undefined;
  return {
    succeeded(): void {
      lastOkAt = Date.now();
      failingSince = undefined;
      lastError = undefined;
    },
    failed(error: unknown): void {
      failingSince ??= Date.now();
      lastError = error instanceof Error ? error.message : String(error);
    },
    check(now = Date.now()): HealthCheck {
      if (failingSince !== undefined && now - failingSince >= toleranceMs) {
        return { ok: false, detail: `failing for ${Math.round((now - failingSince) / 1000)} s: ${lastError}` };
      }
      return { ok: true, ...(lastOkAt === undefined ? {} : { detail: `last answered ${Math.round((now - lastOkAt) / 100) / 10} s ago` }) };
    },
  };
}

export type Reachability = ReturnType<typeof createReachability>;
