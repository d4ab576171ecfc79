// How a connection is tuned and what it keeps outside itself. Tests shorten the delays and pass a
// fake mqtt.js connect and clock.
import { connect as mqttConnect } from 'mqtt';
import { DEFAULT_BACKOFF, type BackoffPolicy } from '../backoff';
import type { CredentialStore, PlatformCalls } from '../login';
import type { SharedPace } from '../pacer';
import type { Connect } from './mqtt-session';

/** What a connection keeps outside itself. */
export interface ConnectionStorage {
  /** Where registration results are kept (`register` mode). */
  credentials?: CredentialStore;
  /** The disk queue's file; absent: the offline queue lives in memory only. */
  queuePath?: string;
}

export interface ConnectionTuning {
  backoff: BackoffPolicy;
  /** A session shorter than this counts as cut short; a longer one resets the backoff. */
  stableSessionMs: number;
  /** Sessions cut short in a row before the connection reports being kicked. */
  kickThreshold: number;
  /** How long a filter no node wants stays subscribed, in case a restarted node wants it back. */
  unsubscribeGraceMs: number;
  connectTimeoutMs: number;
  /** Bound on each HTTPS auth or registration call. */
  authTimeoutMs: number;
  random: () => number;
  /** The clock (tests pass a fake one; timers come from the global setTimeout, which they can mock). */
  now: () => number;
  /** Opens an mqtt.js client (tests pass a fake one). */
  connect: Connect;
  /** The pace every login attempt waits for; absent: none (the nodes share sharedLoginPace). */
  loginPace?: SharedPace;
  /** The HTTPS and MQTT calls before a login (token, registration); absent: the real ones. */
  platform?: PlatformCalls;
}

export const DEFAULT_TUNING: Readonly<ConnectionTuning> = Object.freeze({
  backoff: DEFAULT_BACKOFF,
  stableSessionMs: 10_000,
  kickThreshold: 3,
  unsubscribeGraceMs: 5_000,
  connectTimeoutMs: 30_000,
  authTimeoutMs: 15_000,
  random: Math.random,
  now: () => Date.now(),
  connect: mqttConnect,
});

/** DISCONNECT on a stalled link is given up after this; Node-RED gives a closing node 15 s in all. */
export const CLOSE_TIMEOUT_MS = 5_000;
/** Part of Node-RED's 15 s close budget spent waiting for outstanding PUBACKs. */
export const INFLIGHT_DRAIN_MS = 2_000;
