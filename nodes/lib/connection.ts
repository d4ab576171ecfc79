// One device's MQTT connection: a fresh signed mqtt.js client per login attempt, reconnects with
// backoff the package drives itself, the topic router, and the outbox that settles every publish.
import { EventEmitter } from 'node:events';
import { connect as mqttConnect, type IClientOptions, type MqttClient } from 'mqtt';
import { DEFAULT_BACKOFF, retryDelay, type BackoffPolicy } from './backoff';
import { resolveEndpoint, type ResolvedEndpoint } from './endpoint';
import { AliyunIotError } from './errors';
import { QueueJournal } from './journal';
import { createLogin, isHardFailure, type CredentialStore, type LoginStrategy, type MqttLogin } from './login';
import type { DeviceOptions } from './options';
import { Outbox, type OutgoingMessage } from './outbox';
import { Pacer } from './pacer';
import { Router, type Subscriber } from './router';

export const CONNECTION_STATES = [
  'idle',
  'connecting',
  'connected',
  'reconnecting',
  'disconnected',
  'auth-failed',
  'kicked',
  'closed',
] as const;
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
}

export const DEFAULT_TUNING: Readonly<ConnectionTuning> = Object.freeze({
  backoff: DEFAULT_BACKOFF,
  stableSessionMs: 10_000,
  kickThreshold: 3,
  unsubscribeGraceMs: 5_000,
  connectTimeoutMs: 30_000,
  authTimeoutMs: 15_000,
  random: Math.random,
});

/** CONNACK codes that say the login itself is wrong (ext, keepalive, token, credentials). */
const REFUSED_LOGIN = new Set<unknown>([3, 4, 5]);
const CLOSE_TIMEOUT_MS = 5_000;
// Shared, so a publish allocates no options object.
const QOS0 = Object.freeze({ qos: 0 as const });
const QOS1 = Object.freeze({ qos: 1 as const });
/** Part of Node-RED's 15 s close budget spent waiting for outstanding PUBACKs. */
const INFLIGHT_DRAIN_MS = 2_000;

/**
 * True when mqtt.js failed a callback because the client's session is over rather than because the
 * request itself was wrong. On a forced teardown (keepalive timeout, stream error, `end(true)`)
 * mqtt.js calls every outstanding callback with "Connection closed" *before* it emits 'close',
 * while `connected` still reads true; a graceful end refuses new requests with "client disconnecting".
 */
export function sessionEnded(client: Pick<MqttClient, 'connected' | 'disconnecting'>, err: Error): boolean {
  return (
    err.message === 'Connection closed' ||
    err.message === 'client disconnecting' ||
    client.disconnecting ||
    !client.connected
  );
}

export interface SubscriptionHandle {
  /** `removed`: the node was deleted, so an unwanted filter is unsubscribed at once. */
  close(removed: boolean): void;
}

export interface Delivery {
  topic: string;
  payload: Buffer;
  qos: number;
  retain: boolean;
}

export class DeviceConnection extends EventEmitter {
  readonly endpoint: ResolvedEndpoint;
  readonly router = new Router();
  readonly outbox: Outbox;
  private readonly tuning: ConnectionTuning;
  private client: MqttClient | undefined;
  private current: ConnectionStatus;
  private wanted = false;
  private everConnected = false;
  private attempt = 0;
  private shortSessions = 0;
  private connectedAt = 0;
  private lastError: { code?: number | string; message: string } | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly removals = new Map<string, NodeJS.Timeout>();
  private closing: Promise<void> | undefined;
  private readonly refusedFilters = new Map<string, number>();
  /**
   * Filters no node wants whose UNSUBSCRIBE has not been acknowledged (sent offline, or the session
   * ended first). A persistent session keeps them on the platform, so they go out on the next one.
   */
  private readonly unsubscribing = new Map<string, number>();
  /** Tells UNSUBSCRIBEs of one filter apart: an old UNSUBACK must not clear a newer one. */
  private unsubscribeCount = 0;
  private readonly login: LoginStrategy;
  /** Bumped whenever an attempt is abandoned, so a late HTTPS answer opens nothing. */
  private ticket = 0;
  private loggingIn = false;
  private readonly pacer: Pacer;
  private readonly journal: QueueJournal | undefined;
  /** Removes this connection's listeners from an mqtt.js client (never mqtt.js's own). */
  private readonly detachers = new WeakMap<MqttClient, () => void>();
  private journalRestored = false;
  /** mqtt.js has failed the current client's requests as closed; its 'close' event is on the way. */
  private sessionOver = false;
  private paceTimer: NodeJS.Timeout | undefined;

  /**
   * @param predecessor the same device's previous connection logging out: this one logs in only
   * after it, or the platform would kick one of the two.
   */
  constructor(
    readonly options: DeviceOptions,
    tuning: Partial<ConnectionTuning> = {},
    private predecessor?: Promise<void>,
    storage: ConnectionStorage = {},
  ) {
    super();
    // Every node of the device listens for state changes (and stops on close): no fixed ceiling.
    this.setMaxListeners(0);
    this.tuning = { ...DEFAULT_TUNING, ...tuning };
    this.endpoint = resolveEndpoint(options);
    this.journal = storage.queuePath ? new QueueJournal(storage.queuePath) : undefined;
    this.outbox = new Outbox(options.queueSize, this.journal);
    this.pacer = new Pacer(options.rateLimit);
    this.login = createLogin(options, {
      endpoint: this.endpoint,
      store: storage.credentials,
      http: { timeoutMs: this.tuning.authTimeoutMs },
      warn: (code, params) => this.emit('warning', code, params),
    });
    this.current = this.describe('idle', {});
  }

  /** The state as of now, with the queue depth of this moment. */
  get status(): Readonly<ConnectionStatus> {
    const { queued, resent, restored } = this.outbox;
    return { ...this.current, queued, resent, restored };
  }

  private describe(state: ConnectionState, extra: Partial<ConnectionStatus>): ConnectionStatus {
    return {
      state,
      attempt: this.attempt,
      clientId: this.options.clientId,
      endpoint: this.endpoint.url,
      rateLimit: this.pacer.ratePerSecond,
      queued: this.outbox.queued,
      resent: this.outbox.resent,
      restored: this.outbox.restored,
      ...extra,
    };
  }

  get state(): ConnectionState {
    return this.current.state;
  }

  private setState(state: ConnectionState, extra: Partial<ConnectionStatus> = {}): void {
    this.current = this.describe(state, extra);
    this.emit('state', this.current);
  }

  /** Starts connecting unless already connected or on the way. */
  connect(): void {
    if (this.state === 'closed') return;
    this.wanted = true;
    if (this.client || this.retryTimer || this.loggingIn) return;
    if (this.predecessor) {
      const wait = this.predecessor;
      void wait.then(() => {
        if (this.predecessor !== wait) return;
        this.predecessor = undefined;
        if (this.wanted && !this.client && !this.retryTimer && !this.loggingIn && this.state !== 'closed') this.open();
      });
      return;
    }
    this.open();
  }

  /** Drops the current connection (if any) and logs in again now. */
  reconnect(): void {
    if (this.state === 'closed') return;
    if (this.predecessor) return this.connect();
    this.wanted = true;
    this.clearRetry();
    this.discard(this.client);
    this.open();
  }

  /** Forgets a login on its way (an HTTPS call or registration still running). */
  private abandonLogin(): void {
    this.ticket++;
    this.loggingIn = false;
  }

  /** Disconnects and stays disconnected until `connect()`; queued publishes wait. */
  async disconnect(): Promise<void> {
    if (this.state === 'closed') return;
    this.wanted = false;
    this.clearRetry();
    await this.endGracefully(this.client);
    this.setState('disconnected', { reason: 'requested' });
  }

  /**
   * Ends for good: timers stop; every unsettled publish fails, except those the disk queue keeps
   * for the next start. Calling it again waits for the same end.
   */
  close(): Promise<void> {
    this.closing ??= this.end();
    return this.closing;
  }

  private async end(): Promise<void> {
    this.wanted = false;
    this.clearRetry();
    for (const timer of this.removals.values()) clearTimeout(timer);
    this.removals.clear();
    await this.awaitInflight(INFLIGHT_DRAIN_MS);
    await this.endGracefully(this.client);
    this.outbox.failAll(new AliyunIotError('CONNECTION_CLOSED'));
    this.setState('closed');
  }

  /** Gives QoS 1 messages already on the wire a moment for their PUBACK before logging out. */
  private async awaitInflight(limitMs: number): Promise<void> {
    const until = Date.now() + limitMs;
    while (this.client?.connected && this.outbox.inflight > 0 && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /**
   * The hot path: a QoS 0 publish on a live connection with nothing queued ahead of it needs no
   * bookkeeping and no callback. False when the message must take `publish` instead.
   */
  publishNow(topic: string, payload: Buffer | string): boolean {
    const client = this.client;
    if (!this.live(client) || this.outbox.queued > 0 || !this.pacer.take()) return false;
    client.publish(topic, payload, QOS0);
    return true;
  }

  private live(client: MqttClient | undefined): client is MqttClient {
    return this.state === 'connected' && client?.connected === true && !this.sessionOver;
  }

  publish(topic: string, payload: Buffer | string, qos: 0 | 1, done: (err?: Error) => void): void {
    if (qos === 0 && this.publishNow(topic, payload)) return done();
    const client = this.client;
    const message = this.outbox.create(topic, payload, qos, done);
    if (this.state === 'closed') return this.outbox.settle(message, new AliyunIotError('CONNECTION_CLOSED'));
    if (!this.live(client)) return this.outbox.enqueue(message);
    if (this.outbox.queued === 0 && this.pacer.take()) return this.send(client, message);
    // Connected but over the pace: wait in the queue, or fail now when there is none.
    if (this.options.queueSize === 0)
      return this.outbox.settle(message, new AliyunIotError('RATE_LIMITED', { rate: this.pacer.ratePerSecond }));
    this.outbox.enqueue(message);
    this.schedulePaced();
  }

  /** Sends queued messages as fast as the pace allows, oldest first. */
  private flush(): void {
    this.paceTimer = undefined;
    const client = this.client;
    while (this.live(client) && this.outbox.queued > 0 && this.pacer.take()) {
      const message = this.outbox.shift();
      if (message) this.send(client, message);
    }
    if (this.live(client)) this.schedulePaced();
  }

  private schedulePaced(): void {
    if (this.paceTimer || this.outbox.queued === 0) return;
    this.paceTimer = setTimeout(() => this.flush(), this.pacer.waitMs());
  }

  subscribe(
    filter: string,
    qos: 0 | 1,
    deliver: (delivery: Delivery) => void,
    refused?: (code: number) => void,
  ): SubscriptionHandle {
    const pending = this.removals.get(filter);
    if (pending) {
      clearTimeout(pending);
      this.removals.delete(filter);
    }
    this.unsubscribing.delete(filter);
    const subscriber: Subscriber = {
      filter,
      qos,
      deliver: (topic, payload, packet) => {
        deliver({ topic, payload, qos: packet.qos, retain: packet.retain });
      },
      refused,
    };
    const raise = this.router.add(subscriber);
    const refusedCode = this.refusedFilters.get(filter);
    if (raise !== undefined && this.client?.connected) this.mqttSubscribe(this.client, { [filter]: { qos: raise } });
    else if (refusedCode !== undefined) refused?.(refusedCode);
    let open = true;
    return {
      close: (removed) => {
        if (!open) return;
        open = false;
        if (!this.router.remove(subscriber)) return;
        if (removed || this.state === 'closed') this.forget(filter);
        else
          this.removals.set(
            filter,
            setTimeout(() => this.forget(filter), this.tuning.unsubscribeGraceMs),
          );
      },
    };
  }

  private forget(filter: string): void {
    this.removals.delete(filter);
    if (!this.router.drop(filter)) return;
    this.refusedFilters.delete(filter);
    this.unsubscribing.set(filter, ++this.unsubscribeCount);
    if (this.live(this.client)) this.mqttUnsubscribe(this.client, [filter]);
  }

  private mqttUnsubscribe(client: MqttClient, filters: string[]): void {
    if (filters.length === 0) return;
    const sent = filters.map((filter) => [filter, this.unsubscribing.get(filter)] as const);
    client.unsubscribe(filters, (err) => {
      // Unacknowledged: tried again on the next session (a persistent one still has them).
      if (err) return;
      for (const [filter, count] of sent)
        if (this.unsubscribing.get(filter) === count) this.unsubscribing.delete(filter);
    });
  }

  private mqttSubscribe(client: MqttClient, filters: Record<string, { qos: 0 | 1 }>): void {
    if (Object.keys(filters).length === 0) return;
    client.subscribe(filters, (_err, subs, packet) => {
      const granted = (packet as { granted?: (number | object)[] } | undefined)?.granted ?? [];
      subs?.forEach((sub, i) => {
        const code = granted[i];
        if (typeof code !== 'number' || (code & 0x80) === 0) return;
        this.refusedFilters.set(sub.topic, code);
        for (const s of this.router.subscribersOf(sub.topic)) s.refused?.(code);
      });
    });
  }

  private send(client: MqttClient, message: OutgoingMessage): void {
    // Written to the disk queue before it can be lost with the link.
    if (!this.outbox.record(message)) return;
    this.outbox.markSent(message);
    if (message.qos === 0) {
      // No per-message callback: it would add a drain listener per message once the socket is busy.
      client.publish(message.topic, message.payload, QOS0);
      this.outbox.settle(message);
      return;
    }
    message.sentOn = client;
    client.publish(message.topic, message.payload, QOS1, (err) => {
      // A message requeued after a lost connection belongs to the next client now.
      if (message.sentOn !== client || !this.outbox.isInflight(message)) return;
      if (!err) {
        this.outbox.settle(message);
      } else if (sessionEnded(client, err)) {
        // The session ended before the PUBACK: the message goes out again on the next one. Only
        // close() fails messages for good, and it takes them out of flight before it ends the client.
        this.sessionOver = true;
        this.outbox.requeue(message);
      } else {
        this.outbox.settle(message, new AliyunIotError('PUBLISH_FAILED', { reason: err.message }));
      }
    });
  }

  private open(): void {
    this.retryTimer = undefined;
    this.restoreJournal();
    this.abandonLogin();
    this.lastError = undefined;
    this.setState(this.everConnected || this.attempt > 0 ? 'reconnecting' : 'connecting');
    let login: MqttLogin | Promise<MqttLogin>;
    try {
      login = this.login.next();
    } catch (err) {
      return this.loginFailed(err);
    }
    if (!(login instanceof Promise)) return this.dial(login);
    const ticket = this.ticket;
    this.loggingIn = true;
    login.then(
      (ready) => {
        if (ticket !== this.ticket) return;
        this.loggingIn = false;
        if (this.wanted && this.state !== 'closed') this.dial(ready);
      },
      (err: unknown) => {
        if (ticket !== this.ticket) return;
        this.loggingIn = false;
        if (this.wanted && this.state !== 'closed') this.loginFailed(err);
      },
    );
  }

  /**
   * Once, before the first login and after the predecessor has logged out (and stopped writing the
   * same file): what the disk queue kept goes out first.
   */
  private restoreJournal(): void {
    if (!this.journal || this.journalRestored) return;
    this.journalRestored = true;
    try {
      const entries = this.journal.restore();
      this.outbox.restore(entries);
      if (entries.length > 0) this.emit('warning', 'QUEUE_RESTORED', { count: entries.length });
    } catch (err) {
      this.emit('warning', 'QUEUE_DISK_FAILED', { reason: (err as Error).message });
    }
  }

  /** The HTTPS call or registration before the MQTT login failed: report, then back off. */
  private loginFailed(err: unknown): void {
    const failure = err instanceof AliyunIotError ? err : new AliyunIotError('LOGIN_FAILED', { reason: String(err) });
    this.attempt++;
    const hard = isHardFailure(failure);
    const code = failure.platformCode ?? failure.code;
    this.scheduleRetry(hard ? 'auth-failed' : 'disconnected', { reason: failure.message, code }, hard);
    this.emit('login-error', failure);
  }

  private dial(login: MqttLogin): void {
    const { options, endpoint } = this;
    if (endpoint.secure && !options.rejectUnauthorized) this.emit('warning', 'TLS_UNVERIFIED');
    const clientOptions: IClientOptions = {
      clientId: login.clientId,
      username: login.username,
      password: login.password,
      keepalive: options.keepalive,
      clean: options.cleanSession,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: this.tuning.connectTimeoutMs,
      resubscribe: false,
      queueQoSZero: false,
    };
    if (endpoint.secure) {
      clientOptions.ca = [...(endpoint.ca ?? [])];
      clientOptions.rejectUnauthorized = options.rejectUnauthorized;
      if (options.servername) clientOptions.servername = options.servername;
    }
    const client = mqttConnect(login.url, clientOptions);
    this.sessionOver = false;
    // MQTT packets are small and answered one by one: Nagle's delay would add tens of ms to each.
    (client.stream as { setNoDelay?: (noDelay: boolean) => void } | undefined)?.setNoDelay?.(true);
    this.client = client;
    const handlers = {
      connect: () => this.onConnect(client),
      message: (topic: string, payload: Buffer, packet: { qos: number; retain: boolean }) =>
        this.onMessage(topic, payload, packet),
      error: (err: Error & { code?: number | string }) => {
        if (client === this.client) this.lastError = { code: err.code, message: err.message };
      },
      close: () => this.onClose(client),
    };
    client.on('connect', handlers.connect);
    client.on('message', handlers.message);
    client.on('error', handlers.error);
    client.on('close', handlers.close);
    this.detachers.set(client, () => {
      client.off('connect', handlers.connect);
      client.off('message', handlers.message);
      client.off('error', handlers.error);
      client.off('close', handlers.close);
    });
  }

  private onConnect(client: MqttClient): void {
    if (client !== this.client) return;
    this.everConnected = true;
    this.connectedAt = Date.now();
    this.refusedFilters.clear();
    // A clean session starts with no subscriptions at all: nothing is left to take back.
    if (this.options.cleanSession) this.unsubscribing.clear();
    this.setState('connected');
    this.mqttUnsubscribe(client, [...this.unsubscribing.keys()]);
    this.mqttSubscribe(client, this.router.subscriptions());
    this.flush();
  }

  private onMessage(topic: string, payload: Buffer, packet: { qos: number; retain: boolean }): void {
    try {
      this.router.dispatch(topic, payload, packet);
    } catch (err) {
      this.emit('warning', 'DISPATCH_FAILED', { reason: err instanceof Error ? err.message : String(err) });
    }
  }

  private onClose(client: MqttClient): void {
    if (client !== this.client) return;
    this.discard(client);
    if (!this.wanted) return;
    const session = this.connectedAt > 0 ? Date.now() - this.connectedAt : undefined;
    this.connectedAt = 0;
    const code = this.lastError?.code;
    const reason = this.lastError?.message ?? (session === undefined ? 'connection failed' : 'connection lost');
    if (session === undefined && REFUSED_LOGIN.has(code)) {
      // An expired token: fetch a fresh one at once instead of backing off for minutes.
      if (this.login.refused(code as number)) {
        this.setState('reconnecting', { reason, code });
        this.retryTimer = setTimeout(() => this.open(), 0);
        return;
      }
      this.attempt++;
      return this.scheduleRetry('auth-failed', { reason, code }, true);
    }
    if (session !== undefined && session >= this.tuning.stableSessionMs) {
      this.attempt = 0;
      this.shortSessions = 0;
    } else if (session !== undefined) {
      this.shortSessions++;
    }
    this.attempt++;
    if (this.shortSessions >= this.tuning.kickThreshold) {
      return this.scheduleRetry('kicked', { reason: 'another client is using this device credentials', code }, false);
    }
    this.scheduleRetry('disconnected', { reason, code }, false);
  }

  private scheduleRetry(state: ConnectionState, extra: Partial<ConnectionStatus>, authFailed: boolean): void {
    // Kick loops back off like network trouble, but keep growing while they last.
    const delay = retryDelay(this.attempt, authFailed, this.tuning.backoff, this.tuning.random);
    this.setState(state, { ...extra, nextRetryMs: delay });
    this.retryTimer = setTimeout(() => {
      this.open();
    }, delay);
  }

  private clearRetry(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    clearTimeout(this.paceTimer);
    this.paceTimer = undefined;
    this.abandonLogin();
  }

  /** Forgets a client: its unacknowledged messages go back to the queue, its socket is destroyed. */
  private discard(client: MqttClient | undefined): void {
    if (!client) return;
    if (client === this.client) this.client = undefined;
    this.outbox.requeueInflight();
    this.detach(client);
    client.end(true);
  }

  /**
   * Removes this connection's listeners only: mqtt.js listens to its own events too, and its
   * 'close' handler is what stops the keepalive timer.
   */
  private detach(client: MqttClient): void {
    this.detachers.get(client)?.();
    this.detachers.delete(client);
    // A late socket error must not be an uncaught 'error' event.
    client.on('error', () => undefined);
  }

  private async endGracefully(client: MqttClient | undefined): Promise<void> {
    if (!client) return;
    this.client = undefined;
    this.outbox.requeueInflight();
    this.detach(client);
    if (!client.connected) {
      client.end(true);
      return;
    }
    // DISCONNECT, bounded: Node-RED gives a closing node 15 s in all.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        // mqtt.js's graceful end waits for every outstanding acknowledgement and ignores a second,
        // forced end: on a stalled link, drop the socket instead; its own 'close' handler cleans up.
        client.stream.destroy();
        resolve();
      }, CLOSE_TIMEOUT_MS);
      client.end(false, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
