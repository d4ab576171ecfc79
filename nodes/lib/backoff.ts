// When to try the next login. Network trouble: about 1 s doubling to 60 s, with jitter so a fleet
// that lost the same link does not return in step. Refused credentials (CONNACK 3/4/5): minutes,
// because retrying them quickly is pointless and the platform throttles accounts that hammer it.

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
  authBaseMs: number;
  authMaxMs: number;
  /** Fraction of each delay drawn at random: 0.5 means 50 % to 100 % of the nominal delay. */
  jitter: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffPolicy> = Object.freeze({
  baseMs: 1000,
  maxMs: 60_000,
  authBaseMs: 2 * 60_000,
  authMaxMs: 15 * 60_000,
  jitter: 0.5,
});

function exponential(attempt: number, base: number, max: number): number {
  return Math.min(max, base * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
}

/**
 * Delay before retry number `attempt` (1 for the first retry). With the defaults, refused
 * credentials are retried at most once in any 60 s.
 */
export function retryDelay(
  attempt: number,
  authFailed: boolean,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random = Math.random,
): number {
  const nominal = authFailed
    ? exponential(attempt, policy.authBaseMs, policy.authMaxMs)
    : exponential(attempt, policy.baseMs, policy.maxMs);
  return Math.round(nominal * (1 - policy.jitter * random()));
}
