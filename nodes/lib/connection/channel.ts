// What a flow node talks to for its device: a direct DeviceConnection, or a sub-device riding on its
// gateway's connection (../gateway/sub-device.ts). Nodes depend on this, never on either class.
import type { EventEmitter } from 'node:events';
import type { DeviceOptions } from '../options';
import type { ConnectionEvents, ConnectionState, ConnectionStatus } from './status';
import type { Delivery, SubscriptionHandle } from './subscriptions';

export interface PlatformTrust {
  /** CAs beyond Node's own roots; absent over plain TCP. */
  readonly ca?: readonly string[];
  readonly rejectUnauthorized: boolean;
}

export interface DeviceChannel extends EventEmitter<ConnectionEvents> {
  readonly options: DeviceOptions;
  /** Where it connects, for status and logs (never a secret). */
  readonly endpoint: { readonly url: string };
  /**
   * The TLS trust it reaches the platform with (its gateway's for a sub-device): what an HTTPS
   * download the platform points it to (OTA firmware, remote configuration) trusts too.
   */
  readonly trust: PlatformTrust;
  readonly state: ConnectionState;
  readonly status: Readonly<ConnectionStatus>;
  connect(): void;
  reconnect(): void;
  disconnect(): Promise<void>;
  close(): Promise<void>;
  /**
   * QoS 0 at once when nothing waits and the pace allows; false: call `publish`. `paced` false:
   * a sub-device's message on its gateway's connection, paced by the sub-device already.
   */
  publishNow(topic: string, payload: Buffer | string, paced?: boolean): boolean;
  publish(topic: string, payload: Buffer | string, qos: 0 | 1, done: (err?: Error) => void, paced?: boolean): void;
  subscribe(
    filter: string,
    qos: 0 | 1,
    deliver: (delivery: Delivery) => void,
    refused?: (code: number) => void,
  ): SubscriptionHandle;
}
