// What a connection reports: its state, why, and the counters of its queue. Never a secret.
import type { AliyunIotError, ErrorCode } from '../errors';
import type { Outbox } from '../outbox';
import type { Pacer } from '../pacer';

export const CONNECTION_STATES = [
  'idle',
  'connecting',
  'connected',
  'reconnecting',
  'disconnected',
  'auth-failed',
  'kicked',
  'stopped',
  'disabled',
  'deleted',
  'closed',
] as const;
/**
 * `disconnected`, `auth-failed` and `kicked` back off and retry on their own; `stopped` waits for
 * `connect()` (the flow asked to disconnect), and so do `disabled` and `deleted` (the cloud said so:
 * PLATFORM.md §16.3); `closed` is the end.
 */
export type ConnectionState = (typeof CONNECTION_STATES)[number];

/** What a connect node outputs and a status shows; never a secret. */
export interface ConnectionStatus {
  state: ConnectionState;
  reason?: string;
  code?: number | string;
  attempt: number;
  nextRetryMs?: number;
  clientId: string;
  endpoint: string;
  /** Upstream messages per second the connection paces to (0: unpaced). */
  rateLimit: number;
  /** Messages waiting: offline, or held back by the pace. */
  queued: number;
  /** QoS 1 messages sent again after a lost link: the broker may have seen them twice. */
  resent: number;
  /** QoS 1 messages taken back from the disk queue after a restart (possibly seen once before). */
  restored: number;
}

/** The events a connection emits; other parts of the core report through `warning` too. */
export interface ConnectionEvents {
  state: [status: ConnectionStatus];
  warning: [code: ErrorCode, params?: Readonly<Record<string, unknown>>];
  'login-error': [error: AliyunIotError];
}

/** The part of a status a listener cares about changing; the counters change all the time. */
export function sameReport(a: ConnectionStatus, b: ConnectionStatus): boolean {
  return (
    a.state === b.state &&
    a.reason === b.reason &&
    a.code === b.code &&
    a.attempt === b.attempt &&
    a.nextRetryMs === b.nextRetryMs
  );
}

/** A full status: the state and why, with who the connection is and its queue's counters now. */
export function describeStatus(
  state: ConnectionState,
  extra: Partial<ConnectionStatus>,
  who: Pick<ConnectionStatus, 'attempt' | 'clientId' | 'endpoint'>,
  uplink: { outbox: Outbox; pacer: Pacer },
): ConnectionStatus {
  const { queued, resent, restored } = uplink.outbox;
  return { state, ...who, rateLimit: uplink.pacer.ratePerSecond, queued, resent, restored, ...extra };
}
