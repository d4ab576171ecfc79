// What to do when a session ends: pure, so every rule is unit-tested without a client or a timer.
// The delays themselves come from ../backoff.

/** CONNACK codes that say the login itself is wrong (ext, keepalive, token, credentials). */
const REFUSED_LOGIN = new Set<unknown>([3, 4, 5]);

import type { Backoff } from './phase';

export interface CloseFacts {
  /** How long the session was up; undefined when it never got a CONNACK. */
  sessionMs: number | undefined;
  /** The CONNACK return code, or the socket error's code. */
  code: number | string | undefined;
  /** The last error mqtt.js reported for the session, if any. */
  message?: string;
  attempt: number;
  shortSessions: number;
  /** A session at least this long was a good one: the backoff starts over. */
  stableSessionMs: number;
  /** Sessions cut short in a row before the connection reports being kicked. */
  kickThreshold: number;
  /**
   * Asked only for a refused login: true when the refused credentials were cached (an expired token)
   * and fresh ones can be fetched at once. It may drop the cache, so it is called at most once.
   */
  freshCredentials: (code: 3 | 4 | 5) => boolean;
}

export type CloseVerdict =
  /** Log in again at once with fresh credentials. */
  | { next: 'retry-now'; cause: Backoff }
  | {
      next: 'backoff';
      cause: Backoff & { state: 'disconnected' | 'auth-failed' | 'kicked' };
      /** Refused credentials wait minutes, not seconds. */
      authFailed: boolean;
      attempt: number;
      shortSessions: number;
    };

function isRefusedLogin(sessionMs: number | undefined, code: unknown): code is 3 | 4 | 5 {
  return sessionMs === undefined && REFUSED_LOGIN.has(code);
}

export function classifyClose(facts: CloseFacts): CloseVerdict {
  const { sessionMs, code } = facts;
  const reason = facts.message ?? (sessionMs === undefined ? 'connection failed' : 'connection lost');
  if (isRefusedLogin(sessionMs, code)) {
    // An expired token: a fresh one at once instead of backing off for minutes.
    if (facts.freshCredentials(code)) return { next: 'retry-now', cause: { state: 'reconnecting', reason, code } };
    return {
      next: 'backoff',
      cause: { state: 'auth-failed', reason, code },
      authFailed: true,
      attempt: facts.attempt + 1,
      shortSessions: facts.shortSessions,
    };
  }
  let { attempt, shortSessions } = facts;
  if (sessionMs !== undefined && sessionMs >= facts.stableSessionMs) {
    attempt = 0;
    shortSessions = 0;
  } else if (sessionMs !== undefined) {
    shortSessions++;
  }
  attempt++;
  // Kick loops back off like network trouble, but keep growing while they last.
  const cause: Backoff & { state: 'disconnected' | 'kicked' } =
    shortSessions >= facts.kickThreshold
      ? { state: 'kicked', reason: 'another client is using this device credentials', code }
      : { state: 'disconnected', reason, code };
  return { next: 'backoff', cause, authFailed: false, attempt, shortSessions };
}
