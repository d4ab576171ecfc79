// One device's MQTT connection: a fresh signed mqtt.js session per login attempt, reconnects with
// backoff the package drives itself, the subscriptions and the uplink that settles every publish.
//
// Its phase is one value; `enter()` is the one place that releases what the old phase held (timer,
// session, pending login) and reports the new state. Transitions (anything else is ignored):
//
//   idle         --connect()----------------------> waiting (a predecessor logs out) | authorizing | dialing
//   waiting      --predecessor logged out---------> authorizing | dialing
//   authorizing  --credentials------------------> dialing
//   authorizing  --HTTPS/registration failed-----> backoff (disconnected | auth-failed)
//   dialing      --CONNACK 0---------------------> online
//   dialing      --refused, cached token---------> backoff (reconnecting, 0 ms: a fresh token at once)
//   dialing      --refused / closed--------------> backoff (auth-failed | disconnected | kicked)
//   online       --closed------------------------> backoff (disconnected | kicked)
//   backoff      --timer-------------------------> authorizing | dialing
//   any but waiting, closing, closed --reconnect()--> authorizing | dialing
//   stopped      --connect()---------------------> authorizing | dialing
//   any but closing, closed --disconnect()-------> stopped (after a bounded DISCONNECT)
//   any          --close()-----------------------> closing --> closed
//
// `authorizing` exists only for logins that need an HTTPS call or a registration first; a signed
// login goes straight to `dialing`. Gateways will add sub-device sessions riding on `online`.
import { EventEmitter } from 'node:events';
import { connect as mqttConnect, type IClientOptions, type MqttClient } from 'mqtt';
import { DEFAULT_BACKOFF, retryDelay, type BackoffPolicy } from '../backoff';
import { resolveEndpoint, type ResolvedEndpoint } from '../endpoint';
import { AliyunIotError } from '../errors';
import { QueueJournal } from '../journal';
import { createLogin, isHardFailure, type CredentialStore, type LoginStrategy, type MqttLogin } from '../login';
import type { DeviceOptions } from '../options';
import type { Outbox } from '../outbox';
import type { Router } from '../router';
import { MqttSession, type Connect } from './mqtt-session';
import { classifyClose } from './retry-policy';
import { sameReport, type ConnectionEvents, type ConnectionState, type ConnectionStatus } from './status';
import { SubscriptionTable, type Delivery, type SubscriptionHandle } from './subscriptions';
import { Uplink } from './uplink';

export { CONNECTION_STATES, type ConnectionEvents, type ConnectionState, type ConnectionStatus } from './status';
export { sessionEnded } from './mqtt-session';
export type { Delivery, SubscriptionHandle } from './subscriptions';

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
const CLOSE_TIMEOUT_MS = 5_000;
/** Part of Node-RED's 15 s close budget spent waiting for outstanding PUBACKs. */
const INFLIGHT_DRAIN_MS = 2_000;

type Backoff = Pick<ConnectionStatus, 'reason' | 'code'> & {
  state: 'disconnected' | 'auth-failed' | 'kicked' | 'reconnecting';
};

type Phase =
  | { readonly kind: 'idle' }
  | { readonly kind: 'waiting'; readonly predecessor: Promise<void> }
  | { readonly kind: 'authorizing'; readonly retrying: boolean }
  | { readonly kind: 'dialing'; readonly session: MqttSession; readonly retrying: boolean }
  | { readonly kind: 'online'; readonly session: MqttSession; readonly since: number }
  | { readonly kind: 'backoff'; readonly timer: NodeJS.Timeout; readonly cause: Backoff; readonly delayMs: number }
  | { readonly kind: 'stopped' }
  | { readonly kind: 'closing'; readonly session?: MqttSession }
  | { readonly kind: 'closed' };

export class DeviceConnection extends EventEmitter<ConnectionEvents> {
  readonly endpoint: ResolvedEndpoint;
  private readonly tuning: ConnectionTuning;
  private readonly login: LoginStrategy;
  private readonly journal: QueueJournal | undefined;
  private readonly uplink: Uplink;
  private readonly subscriptions: SubscriptionTable;
  private phase: Phase = { kind: 'idle' };
  private current: ConnectionStatus;
  private everConnected = false;
  private attempt = 0;
  private shortSessions = 0;
  private lastError: { code?: number | string; message: string } | undefined;
  private closing: Promise<void> | undefined;
  private journalRestored = false;

  /**
   * @param predecessor the same device's previous connection logging out: this one logs in only
   * after it, or the platform would kick one of the two.
   */
  constructor(
    readonly options: DeviceOptions,
    tuning: Partial<ConnectionTuning> = {},
    private readonly predecessor?: Promise<void>,
    storage: ConnectionStorage = {},
  ) {
    super();
    // Every node of the device listens for state changes (and stops on close): no fixed ceiling.
    this.setMaxListeners(0);
    this.tuning = { ...DEFAULT_TUNING, ...tuning };
    this.endpoint = resolveEndpoint(options);
    this.journal = storage.queuePath ? new QueueJournal(storage.queuePath) : undefined;
    const closed = () => this.phase.kind === 'closed';
    const ending = () => this.phase.kind === 'closing' || closed();
    this.uplink = new Uplink(
      options.queueSize,
      options.rateLimit,
      this.journal,
      this.tuning.now,
      () => this.writableSession(),
      closed,
    );
    this.uplink.outbox.onCallbackError = (err) =>
      this.emit('warning', 'CALLBACK_FAILED', { reason: err instanceof Error ? err.message : String(err) });
    this.subscriptions = new SubscriptionTable(
      this.tuning.unsubscribeGraceMs,
      () => this.writableSession()?.client,
      ending,
    );
    this.login = createLogin(options, {
      endpoint: this.endpoint,
      store: storage.credentials,
      http: { timeoutMs: this.tuning.authTimeoutMs },
      warn: (code, params) => this.emit('warning', code, params),
    });
    this.current = this.describe('idle', {});
  }

  get outbox(): Outbox {
    return this.uplink.outbox;
  }

  get router(): Router {
    return this.subscriptions.router;
  }

  /** The state as of now, with the queue depth of this moment. */
  get status(): Readonly<ConnectionStatus> {
    const { queued, resent, restored } = this.outbox;
    return { ...this.current, queued, resent, restored };
  }

  get state(): ConnectionState {
    return this.current.state;
  }

  /** Starts connecting unless already connected or on the way. */
  connect(): void {
    if (this.phase.kind === 'idle') this.leaveIdle();
    else if (this.phase.kind === 'stopped') this.start();
  }

  /** Drops the current session (if any) and logs in again now. */
  reconnect(): void {
    switch (this.phase.kind) {
      case 'idle':
        return this.leaveIdle();
      case 'waiting':
      case 'closing':
      case 'closed':
        return;
      case 'authorizing':
      case 'dialing':
      case 'online':
      case 'backoff':
      case 'stopped':
        return this.start();
      default:
        return unreachable(this.phase);
    }
  }

  /** Disconnects and stays disconnected until `connect()`; queued publishes wait. */
  async disconnect(): Promise<void> {
    if (this.phase.kind === 'closing' || this.phase.kind === 'closed') return;
    const session = sessionOf(this.phase);
    this.enter({ kind: 'stopped' }, session);
    await session?.end(CLOSE_TIMEOUT_MS);
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
    const online = this.phase.kind === 'online' ? this.phase.session : undefined;
    // An online session keeps delivering PUBACKs while the messages in flight drain.
    this.enter({ kind: 'closing', session: online });
    this.subscriptions.stop();
    if (online?.writable) await this.drained(online, INFLIGHT_DRAIN_MS);
    this.enter({ kind: 'closing' }, online);
    await online?.end(CLOSE_TIMEOUT_MS);
    this.outbox.failAll(new AliyunIotError('CONNECTION_CLOSED'));
    this.enter({ kind: 'closed' });
  }

  /**
   * Gives QoS 1 messages already on the wire a moment for their PUBACK before logging out: until
   * none is in flight, the session ends, or the time is up.
   */
  private async drained(session: MqttSession, limitMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    let closed: (() => void) | undefined;
    await Promise.race([
      this.outbox.drained(),
      new Promise((resolve) => (timer = setTimeout(resolve, limitMs))),
      new Promise<void>((resolve) => session.client.once('close', (closed = resolve))),
    ]);
    clearTimeout(timer);
    if (closed) session.client.off('close', closed);
  }

  publishNow(topic: string, payload: Buffer | string): boolean {
    return this.uplink.publishNow(topic, payload);
  }

  publish(topic: string, payload: Buffer | string, qos: 0 | 1, done: (err?: Error) => void): void {
    this.uplink.publish(topic, payload, qos, done);
  }

  subscribe(
    filter: string,
    qos: 0 | 1,
    deliver: (delivery: Delivery) => void,
    refused?: (code: number) => void,
  ): SubscriptionHandle {
    return this.subscriptions.add(filter, qos, deliver, refused);
  }

  /** The online session requests can go out on now. */
  private writableSession(): MqttSession | undefined {
    const phase = this.phase;
    return phase.kind === 'online' && phase.session.writable ? phase.session : undefined;
  }

  private describe(state: ConnectionState, extra: Partial<ConnectionStatus>): ConnectionStatus {
    return {
      state,
      attempt: this.attempt,
      clientId: this.options.clientId,
      endpoint: this.endpoint.url,
      rateLimit: this.uplink.pacer.ratePerSecond,
      queued: this.outbox.queued,
      resent: this.outbox.resent,
      restored: this.outbox.restored,
      ...extra,
    };
  }

  /** The state a phase reports; undefined where the last report still holds. */
  private report(phase: Phase): ConnectionStatus | undefined {
    switch (phase.kind) {
      case 'idle':
        return this.describe('idle', {});
      case 'waiting':
      case 'closing':
        return undefined;
      case 'authorizing':
      case 'dialing':
        return this.describe(phase.retrying ? 'reconnecting' : 'connecting', {});
      case 'online':
        return this.describe('connected', {});
      case 'backoff':
        return this.describe(phase.cause.state, {
          reason: phase.cause.reason,
          code: phase.cause.code,
          // A fresh token is fetched at once: there is no wait to show.
          nextRetryMs: phase.cause.state === 'reconnecting' ? undefined : phase.delayMs,
        });
      case 'stopped':
        return this.describe('stopped', { reason: 'requested' });
      case 'closed':
        return this.describe('closed', {});
      default:
        return unreachable(phase);
    }
  }

  /**
   * Leaves the old phase and reports the new one. What the old phase held is released here and
   * nowhere else: its retry timer stopped, the pace paused, its session's unacknowledged messages
   * requeued and the session dropped, unless the new phase keeps it or the caller ends it
   * gracefully itself (`ending`).
   */
  private enter(next: Phase, ending?: MqttSession): void {
    const old = this.phase;
    this.phase = next;
    if (old.kind === 'backoff') clearTimeout(old.timer);
    if (old.kind === 'online') this.uplink.pause();
    const session = sessionOf(old);
    if (session && session !== sessionOf(next)) {
      this.outbox.requeueInflight();
      if (session === ending) session.detach();
      else session.drop();
    }
    const status = this.report(next);
    if (!status || sameReport(status, this.current)) return;
    this.current = status;
    this.emit('state', status);
  }

  private leaveIdle(): void {
    const predecessor = this.predecessor;
    if (!predecessor) return this.start();
    const waiting: Phase = { kind: 'waiting', predecessor };
    this.enter(waiting);
    void predecessor.then(() => {
      if (this.phase === waiting) this.start();
    });
  }

  /** A login attempt: credentials (maybe over HTTPS first), then a fresh session. */
  private start(): void {
    this.restoreJournal();
    this.lastError = undefined;
    const retrying = this.everConnected || this.attempt > 0;
    let login: MqttLogin | Promise<MqttLogin>;
    try {
      login = this.login.next();
    } catch (err) {
      return this.loginFailed(err);
    }
    if (!(login instanceof Promise)) return this.dial(login, retrying);
    const authorizing: Phase = { kind: 'authorizing', retrying };
    this.enter(authorizing);
    login.then(
      (ready) => {
        if (this.phase === authorizing) this.dial(ready, retrying);
      },
      (err: unknown) => {
        if (this.phase === authorizing) this.loginFailed(err);
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
    this.backOff({ state: hard ? 'auth-failed' : 'disconnected', reason: failure.message, code }, hard);
    this.emit('login-error', failure);
  }

  private dial(login: MqttLogin, retrying: boolean): void {
    const { options, endpoint } = this;
    if (endpoint.secure && !options.rejectUnauthorized) this.emit('warning', 'TLS_UNVERIFIED');
    const clientOptions: IClientOptions = {
      clientId: login.clientId,
      username: login.username,
      password: login.password,
      keepalive: options.keepalive,
      clean: options.cleanSession,
      connectTimeout: this.tuning.connectTimeoutMs,
    };
    if (endpoint.secure) {
      clientOptions.ca = [...(endpoint.ca ?? [])];
      clientOptions.rejectUnauthorized = options.rejectUnauthorized;
      if (options.servername) clientOptions.servername = options.servername;
    }
    const session: MqttSession = new MqttSession(this.tuning.connect, login.url, clientOptions, {
      connect: () => this.onConnect(session),
      message: (topic, payload, packet) => this.onMessage(topic, payload, packet),
      error: (err) => {
        if (sessionOf(this.phase) === session) this.lastError = { code: err.code, message: err.message };
      },
      close: () => this.onClose(session),
    });
    this.enter({ kind: 'dialing', session, retrying });
  }

  private onConnect(session: MqttSession): void {
    if (this.phase.kind !== 'dialing' || this.phase.session !== session) return;
    this.everConnected = true;
    this.enter({ kind: 'online', session, since: this.tuning.now() });
    const client: MqttClient = session.client;
    this.subscriptions.resume(client, this.options.cleanSession);
    this.uplink.flush();
  }

  private onMessage(topic: string, payload: Buffer, packet: { qos: number; retain: boolean }): void {
    try {
      this.router.dispatch(topic, payload, packet);
    } catch (err) {
      this.emit('warning', 'DISPATCH_FAILED', { reason: err instanceof Error ? err.message : String(err) });
    }
  }

  private onClose(session: MqttSession): void {
    const phase = this.phase;
    if ((phase.kind !== 'dialing' && phase.kind !== 'online') || phase.session !== session) return;
    const sessionMs = phase.kind === 'online' ? this.tuning.now() - phase.since : undefined;
    const code = this.lastError?.code;
    const reason = this.lastError?.message ?? (sessionMs === undefined ? 'connection failed' : 'connection lost');
    const verdict = classifyClose({
      sessionMs,
      code,
      attempt: this.attempt,
      shortSessions: this.shortSessions,
      stableSessionMs: this.tuning.stableSessionMs,
      kickThreshold: this.tuning.kickThreshold,
      freshCredentials: (refused) => this.login.refused(refused),
    });
    if (verdict.next === 'retry-now') {
      // An expired token: fetch a fresh one at once instead of backing off for minutes.
      return this.backOff({ state: 'reconnecting', reason, code }, false, 0);
    }
    this.attempt = verdict.attempt;
    this.shortSessions = verdict.shortSessions;
    const cause: Backoff =
      verdict.state === 'kicked'
        ? { state: 'kicked', reason: 'another client is using this device credentials', code }
        : { state: verdict.state, reason, code };
    this.backOff(cause, verdict.authFailed);
  }

  private backOff(cause: Backoff, authFailed: boolean, delayMs?: number): void {
    const delay = delayMs ?? retryDelay(this.attempt, authFailed, this.tuning.backoff, this.tuning.random);
    const timer = setTimeout(() => {
      if (this.phase.kind === 'backoff' && this.phase.timer === timer) this.start();
    }, delay);
    this.enter({ kind: 'backoff', timer, cause, delayMs: delay });
  }
}

function sessionOf(phase: Phase): MqttSession | undefined {
  return phase.kind === 'dialing' || phase.kind === 'online' || phase.kind === 'closing' ? phase.session : undefined;
}

function unreachable(phase: never): never {
  throw new Error(`unhandled connection phase ${JSON.stringify(phase)}`);
}
