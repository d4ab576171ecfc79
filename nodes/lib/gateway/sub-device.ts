// A sub-device as the nodes see a device: the same calls as a DeviceConnection (publish, subscribe,
// state, connect/disconnect), riding on its gateway's connection. It is online only while the
// gateway session has it logged in; until then its messages wait in its own bounded queue, paced
// to its own rate, and its filters are subscribed on the gateway's connection only after login.
import { EventEmitter } from 'node:events';
import type {
  PlatformTrust,
  ConnectionEvents,
  ConnectionState,
  ConnectionStatus,
  Delivery,
  DeviceChannel,
  SubscriptionHandle,
} from '../connection';
import { describeStatus, sameReport } from '../connection/status';
import { AliyunIotError } from '../errors';
import type { CredentialStore } from '../login';
import type { DeviceOptions } from '../options';
import { Outbox } from '../outbox';
import { Pacer, type SharedPace } from '../pacer';
import type { GatewaySession, SubDeviceState } from './session';

/** What a sub-device needs of its gateway's connection beyond what the session uses. */
export type GatewayCarrier = Pick<DeviceChannel, 'endpoint' | 'trust' | 'publish' | 'publishNow' | 'subscribe'>;

interface Wanted {
  readonly filter: string;
  readonly qos: 0 | 1;
  readonly deliver: (delivery: Delivery) => void;
  readonly refused?: (code: number) => void;
  handle?: SubscriptionHandle;
}

const ignore = (): void => undefined;

/** The reason a sub-device reports while its gateway is offline; nodes show it as such. */
export const GATEWAY_OFFLINE = 'gateway-offline';

/**
 * A login refused because the cloud disabled (522, 6204) or deleted (521) the sub-device: shown as a
 * direct device shows its lifecycle notices (PLATFORM.md §16.3). Like any refused login it waits for
 * the user, or for `thing/topo/change` to enable it again (§11).
 */
const HALTED: Readonly<Record<number, ConnectionState>> = { 521: 'deleted', 522: 'disabled', 6204: 'disabled' };

/** The session's view of a sub-device, as the state every node already knows how to show. */
const REPORTED: Readonly<Record<SubDeviceState, ConnectionState>> = {
  'gateway-offline': 'disconnected',
  'logging-in': 'connecting',
  online: 'connected',
  'login-failed': 'auth-failed',
  retrying: 'reconnecting',
  kicked: 'kicked',
};

export class SubDeviceConnection extends EventEmitter<ConnectionEvents> implements DeviceChannel {
  readonly endpoint: { readonly url: string };
  readonly trust: PlatformTrust;
  readonly outbox: Outbox;
  private readonly pacer: Pacer;
  /** The gateway-wide pace every sub-device of this gateway shares (its `gatewayRateLimit`). */
  private readonly shared: SharedPace;
  private readonly wanted = new Set<Wanted>();
  private detach: (() => void) | undefined;
  private online = false;
  private closed = false;
  private paceTimer: NodeJS.Timeout | undefined;
  private current: ConnectionStatus;

  constructor(
    readonly options: DeviceOptions,
    private readonly gateway: GatewayCarrier,
    private readonly session: GatewaySession,
    /** Registration mode: where the DeviceSecret registered through the gateway is kept. */
    private readonly store?: CredentialStore,
  ) {
    super();
    this.setMaxListeners(0);
    this.endpoint = { url: `${gateway.endpoint.url} (gateway)` };
    this.trust = gateway.trust;
    this.outbox = new Outbox(options.queueSize);
    this.pacer = new Pacer(options.rateLimit);
    this.shared = session.pace;
    this.current = this.describe('idle', {});
  }

  get state(): ConnectionState {
    return this.current.state;
  }

  get status(): Readonly<ConnectionStatus> {
    const { queued, resent, restored } = this.outbox;
    return { ...this.current, queued, resent, restored };
  }

  /** Asks the gateway session to log the sub-device in (now, or when the gateway is online). */
  connect(): void {
    if (this.closed || this.detach) return;
    this.detach = this.session.attach({
      device: this.options,
      cleanSession: this.options.cleanSession,
      store: this.options.authMode === 'register' ? this.store : undefined,
      warn: (code, params) => this.emit('warning', code, params),
      changed: (state, code, retryMs) => this.sessionChanged(state, code, retryMs),
    });
  }

  /** Logs out and logs in again. */
  reconnect(): void {
    this.leave();
    this.connect();
  }

  /** Logs out and stays out until `connect()`; queued messages wait. */
  disconnect(): Promise<void> {
    this.leave();
    if (!this.closed) this.report('stopped', { reason: 'requested' });
    return Promise.resolve();
  }

  /** Ends for good: logs out, and every queued message fails. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.leave();
    this.closed = true;
    for (const want of this.wanted) want.handle?.close(true);
    this.wanted.clear();
    this.outbox.failAll(new AliyunIotError('CONNECTION_CLOSED'));
    this.report('closed', {});
    return Promise.resolve();
  }

  /** QoS 0 now, when online, nothing queued and both paces allow; false: use `publish`. */
  publishNow(topic: string, payload: Buffer | string): boolean {
    if (!this.mayGoNow()) return false;
    if (!this.gateway.publishNow(topic, payload, false)) this.gateway.publish(topic, payload, 0, ignore, false);
    return true;
  }

  publish(topic: string, payload: Buffer | string, qos: 0 | 1, done: (err?: Error) => void): void {
    if (this.closed) return done(new AliyunIotError('CONNECTION_CLOSED'));
    if (this.mayGoNow()) return this.gateway.publish(topic, payload, qos, done, false);
    const message = this.outbox.create(topic, payload, qos, done);
    this.outbox.enqueue(message);
    this.schedule();
  }

  /** Subscribed on the gateway's connection while the sub-device is logged in, kept otherwise. */
  subscribe(
    filter: string,
    qos: 0 | 1,
    deliver: (delivery: Delivery) => void,
    refused?: (code: number) => void,
  ): SubscriptionHandle {
    const want: Wanted = { filter, qos, deliver, refused };
    this.wanted.add(want);
    if (this.online) want.handle = this.gateway.subscribe(filter, qos, deliver, refused);
    return {
      close: (removed) => {
        if (!this.wanted.delete(want)) return;
        want.handle?.close(removed);
      },
    };
  }

  private leave(): void {
    this.detach?.();
    this.detach = undefined;
    this.goOffline();
  }

  private sessionChanged(state: SubDeviceState, code?: number | string, nextRetryMs?: number): void {
    if (state === 'online') {
      this.online = true;
      for (const want of this.wanted) {
        want.handle ??= this.gateway.subscribe(want.filter, want.qos, want.deliver, want.refused);
      }
      this.report('connected', {});
      this.flush();
      return;
    }
    this.goOffline();
    const reason = state === 'gateway-offline' ? GATEWAY_OFFLINE : undefined;
    const halted = state === 'login-failed' ? HALTED[Number(code)] : undefined;
    this.report(halted ?? REPORTED[state], { reason, code, nextRetryMs });
  }

  /** Its filters leave the gateway's connection until the next login: no traffic without a session. */
  private goOffline(): void {
    if (!this.online) return;
    this.online = false;
    clearTimeout(this.paceTimer);
    this.paceTimer = undefined;
    this.shared.leave(this.turn);
    for (const want of this.wanted) {
      want.handle?.close(true);
      want.handle = undefined;
    }
  }

  /** Online, nothing queued ahead, and a slot in both paces (booked when true). */
  private mayGoNow(): boolean {
    if (!this.online || this.outbox.queued > 0 || !this.pacer.ready() || !this.shared.take()) return false;
    return this.pacer.take();
  }

  /**
   * Sends queued messages as fast as the sub-device's pace allows, oldest first; when the gateway's
   * shared pace has no slot, waits in its line (one timer for all sub-devices) instead.
   */
  private flush(): void {
    this.paceTimer = undefined;
    // Waiting in the gateway's line, its turn sends next. It takes no slot itself meanwhile: a take
    // lets the line through first, its own turn included, and the message after it would then go
    // out within the sub-device's own interval.
    if (this.shared.waits(this.turn)) return;
    while (this.online && this.outbox.queued > 0 && this.pacer.ready()) {
      if (!this.shared.admit(this.turn)) return;
      this.sendNext();
    }
    this.schedule();
  }

  /** The shared pace booked a slot for this sub-device. */
  private readonly turn = (): void => {
    if (!this.online || this.outbox.queued === 0) return;
    this.sendNext();
    this.flush();
  };

  private sendNext(): void {
    this.pacer.take();
    const message = this.outbox.shift();
    if (message) this.gateway.publish(message.topic, message.payload, message.qos, message.done, false);
  }

  private schedule(): void {
    if (!this.online || this.shared.waits(this.turn) || this.paceTimer || this.outbox.queued === 0) return;
    this.paceTimer = setTimeout(() => this.flush(), this.pacer.waitMs());
  }

  private describe(state: ConnectionState, extra: Partial<ConnectionStatus>): ConnectionStatus {
    const who = { attempt: 0, clientId: this.options.clientId, endpoint: this.endpoint.url };
    return describeStatus(state, extra, who, { outbox: this.outbox, pacer: this.pacer });
  }

  private report(state: ConnectionState, extra: Partial<ConnectionStatus>): void {
    const status = this.describe(state, extra);
    if (sameReport(status, this.current)) return;
    this.current = status;
    this.emit('state', status);
  }
}
