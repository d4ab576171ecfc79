// The parties of a gateway session: the gateway's connection as the session uses it, the
// sub-devices it logs in and how it tells them, and the session's tuning (seams for tests).
import { DEFAULT_BACKOFF, type BackoffPolicy } from '../backoff';
import type { DeviceRef } from '../alink';
import type { ConnectionState, ConnectionStatus, Delivery, SubscriptionHandle } from '../connection';
import type { ErrorCode } from '../errors';
import type { CredentialStore } from '../login';
import type { SignMethod } from '../sign';
import type { SubDevice } from './protocol';

/** What the session needs of the gateway's connection (a DeviceConnection, or a fake in tests). */
export interface GatewayLink {
  readonly options: DeviceRef & { readonly signmethod: SignMethod; readonly gatewayRateLimit?: number };
  readonly state: ConnectionState;
  on(event: 'state', listener: (status: ConnectionStatus) => void): unknown;
  off(event: 'state', listener: (status: ConnectionStatus) => void): unknown;
  publish(topic: string, payload: string, qos: 0 | 1, done: (err?: Error) => void): void;
  subscribe(filter: string, qos: 0 | 1, deliver: (delivery: Delivery) => void): SubscriptionHandle;
}

/** `login-failed`: refused until the user acts; `retrying`: refused for now, logs in again after a backoff. */
export type SubDeviceState = 'gateway-offline' | 'logging-in' | 'online' | 'login-failed' | 'retrying' | 'kicked';

/** A sub-device as the session sees it: its identity, and where its state changes go. */
export interface SubDeviceMember {
  /** Its DeviceSecret blank in registration mode until registered. */
  readonly device: SubDevice;
  readonly cleanSession: boolean;
  /** Registration mode: where a secret registered through the gateway is kept. */
  readonly store?: CredentialStore;
  /** Trouble with that store, for a log line. */
  warn?(code: ErrorCode, params: Record<string, unknown>): void;
  changed(state: SubDeviceState, code?: number | string, retryMs?: number): void;
}

export interface SessionTuning {
  replyTimeoutMs: number;
  backoff: BackoffPolicy;
  random: () => number;
  now: () => number;
}

export const DEFAULT_SESSION_TUNING: SessionTuning = {
  replyTimeoutMs: 10_000,
  backoff: DEFAULT_BACKOFF,
  random: Math.random,
  now: () => Date.now(),
};
