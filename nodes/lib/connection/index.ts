// One device's MQTT connection: a fresh signed mqtt.js session per login attempt, reconnects with
// backoff the package drives itself, the subscriptions and the uplink that settles every publish.
// Its phases and their transitions are in ./phase.ts; `enter()` below is the one place that releases
// what the old phase held and reports the new state.
import { EventEmitter } from 'node:events';
import { retryDelay } from '../backoff';
import { resolveEndpoint, type ResolvedEndpoint } from '../endpoint';
import { AliyunIotError } from '../errors';
import { QueueJournal } from '../journal';
import { createLogin, isHardFailure, type LoginStrategy, type MqttLogin } from '../login';
import type { DeviceOptions } from '../options';
import type { Outbox } from '../outbox';
import type { Router } from '../router';
import type { DeviceChannel, PlatformTrust } from './channel';
import { haltFor, LIFECYCLE_NOTICES, lifecycleReply, lifecycleTopic, type LifecycleNotice } from './lifecycle';
import { loginOptions, MqttSession } from './mqtt-session';
import { reconnects, reportOf, sessionOf, type Backoff, type Phase } from './phase';
import { classifyClose } from './retry-policy';
import {
  describeStatus,
  sameReport,
  type ConnectionEvents,
  type ConnectionState,
  type ConnectionStatus,
} from './status';
import { SubscriptionTable, type Delivery, type SubscriptionHandle } from './subscriptions';
import {
  CLOSE_TIMEOUT_MS,
  DEFAULT_TUNING,
  INFLIGHT_DRAIN_MS,
  type ConnectionStorage,
  type ConnectionTuning,
} from './tuning';
import { Uplink } from './uplink';

export { CONNECTION_STATES, type ConnectionEvents, type ConnectionState, type ConnectionStatus } from './status';
export type { DeviceChannel, PlatformTrust } from './channel';
export { sessionEnded } from './mqtt-session';
export type { Delivery, SubscriptionHandle } from './subscriptions';
export { DEFAULT_TUNING, type ConnectionStorage, type ConnectionTuning } from './tuning';

export class DeviceConnection extends EventEmitter<ConnectionEvents> implements DeviceChannel {
  readonly endpoint: ResolvedEndpoint;
  readonly trust: PlatformTrust;
  private readonly tuning: ConnectionTuning;
  private readonly login: LoginStrategy;
  private readonly uplink: Uplink;
  private readonly subscriptions: SubscriptionTable;
  private phase: Phase = { kind: 'idle' };
  private current: ConnectionStatus;
  private everConnected = false;
  private attempt = 0;
  private shortSessions = 0;
  private lastError: { code?: number | string; message: string } | undefined;
  private closing: Promise<void> | undefined;
  /**
   * The same device's previous connection logging out (a redeploy): this one logs in only after it,
   * or the platform would kick one of the two. Undefined once it has.
   */
  private predecessor: Promise<void> | undefined;
  /** A session ending gracefully after disconnect() or a lifecycle halt: close() waits for it. */
  private parting: Promise<void> | undefined;

  /** @param predecessor see the field */
  constructor(
    readonly options: DeviceOptions,
    tuning: Partial<ConnectionTuning> = {},
    predecessor?: Promise<void>,
    storage: ConnectionStorage = {},
  ) {
    super();
    this.predecessor = predecessor;
    const over = (): void => {
      this.predecessor = undefined;
    };
    // Failed or not, it is over: a predecessor that rejects must not hold this one back for good.
    predecessor?.then(over, over);
    // Every node of the device listens for state changes (and stops on close): no fixed ceiling.
    this.setMaxListeners(0);
    this.tuning = { ...DEFAULT_TUNING, ...tuning };
    this.endpoint = resolveEndpoint(options);
    this.trust = { ca: this.endpoint.ca, rejectUnauthorized: options.rejectUnauthorized };
    const journal = storage.queuePath ? new QueueJournal(storage.queuePath) : undefined;
    const closed = () => this.phase.kind === 'closed';
    const ending = () => this.phase.kind === 'closing' || closed();
    this.uplink = new Uplink(options.queueSize, options.rateLimit, journal, this.tuning.now, closed);
    this.uplink.outbox.onCallbackError = (err) =>
      this.emit('warning', 'CALLBACK_FAILED', { reason: err instanceof Error ? err.message : String(err) });
    this.subscriptions = new SubscriptionTable(
      this.tuning.unsubscribeGraceMs,
      () => this.uplink.writable()?.client,
      ending,
      (err) => this.emit('warning', 'DISPATCH_FAILED', { reason: err instanceof Error ? err.message : String(err) }),
    );
    this.login = createLogin(options, {
      endpoint: this.endpoint,
      platform: this.tuning.platform,
      store: storage.credentials,
      http: { timeoutMs: this.tuning.authTimeoutMs },
      warn: (code, params) => this.emit('warning', code, params),
    });
    this.current = this.describe('idle', {});
    // One listener for the three topics: a closure per topic would cost every device three more.
    const onNotice = (delivery: Delivery) => this.onLifecycle(delivery);
    for (const notice of LIFECYCLE_NOTICES) this.subscriptions.add(lifecycleTopic(options, notice), 0, onNotice);
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
    if (this.phase.kind === 'idle' || this.phase.kind === 'stopped') this.leaveIdle();
  }

  /** Drops the current session (if any) and logs in again now. */
  reconnect(): void {
    if (reconnects(this.phase)) this.leaveIdle();
  }

  /** Disconnects and stays disconnected until `connect()`; queued publishes wait. */
  async disconnect(): Promise<void> {
    if (this.phase.kind === 'closing' || this.phase.kind === 'closed') return;
    const session = sessionOf(this.phase);
    this.enter({ kind: 'stopped' }, session);
    await this.part(session);
  }

  /** Ends a session gracefully, and keeps the ending for close() to wait on. */
  private part(session: MqttSession | undefined): Promise<void> {
    if (!session) return Promise.resolve();
    const parting = session.end(CLOSE_TIMEOUT_MS);
    this.parting = parting;
    return parting;
  }

  /**
   * A lifecycle notice: answered at once (unpaced, ahead of the queue when it can be); after disable
   * or delete the session ends and no login follows until `connect()`.
   */
  private onLifecycle({ topic: noticeTopic, payload }: Delivery): void {
    // The notice is the topic's last level: /sys/{pk}/{dn}/thing/{notice}.
    const notice = noticeTopic.slice(noticeTopic.lastIndexOf('/') + 1) as LifecycleNotice;
    const topic = `${noticeTopic}_reply`;
    const reply = lifecycleReply(payload);
    if (!this.uplink.publishNow(topic, reply, false)) this.uplink.publish(topic, reply, 0, () => undefined, false);
    const halted = haltFor(notice);
    if (!halted || this.phase.kind !== 'online') return;
    const session = this.phase.session;
    this.enter({ kind: 'stopped', halted }, session);
    void this.part(session);
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
    if (online?.writable) await this.uplink.drained(online, INFLIGHT_DRAIN_MS);
    this.enter({ kind: 'closing' }, online);
    await online?.end(CLOSE_TIMEOUT_MS);
    // A session disconnect() was ending still waits for its acknowledgements: the pool lets the
    // next connection of this device log in once this one is closed.
    await this.parting;
    // Closed first: a callback that publishes again when its message fails is refused at once,
    // instead of queueing behind the queue being emptied, where nothing would ever settle it.
    this.enter({ kind: 'closed' });
    this.outbox.failAll(new AliyunIotError('CONNECTION_CLOSED'));
  }

  publishNow(topic: string, payload: Buffer | string, paced = true): boolean {
    return this.uplink.publishNow(topic, payload, paced);
  }

  publish(topic: string, payload: Buffer | string, qos: 0 | 1, done: (err?: Error) => void, paced = true): void {
    this.uplink.publish(topic, payload, qos, done, paced);
  }

  subscribe(
    filter: string,
    qos: 0 | 1,
    deliver: (delivery: Delivery) => void,
    refused?: (code: number) => void,
  ): SubscriptionHandle {
    return this.subscriptions.add(filter, qos, deliver, refused);
  }

  private describe(state: ConnectionState, extra: Partial<ConnectionStatus>): ConnectionStatus {
    const { clientId } = this.options;
    return describeStatus(state, extra, { attempt: this.attempt, clientId, endpoint: this.endpoint.url }, this.uplink);
  }

  /**
   * Leaves the old phase and reports the new one. What the old phase held is released here and
   * nowhere else: its retry timer stopped, the pace paused (by the uplink, when it loses its
   * session), its session's unacknowledged messages requeued and the session dropped, unless the
   * new phase keeps it or the caller ends it gracefully itself (`ending`).
   */
  private enter(next: Phase, ending?: MqttSession): void {
    const old = this.phase;
    this.phase = next;
    this.uplink.online = next.kind === 'online' ? next.session : undefined;
    if (old.kind === 'backoff') clearTimeout(old.timer);
    if (old.kind === 'queued') this.tuning.loginPace?.leave(old.turn);
    const session = sessionOf(old);
    if (session && session !== sessionOf(next)) {
      this.outbox.requeueInflight();
      if (session === ending) session.detach();
      else session.drop();
    }
    const reported = reportOf(next);
    const status = reported && this.describe(reported.state, reported.extra);
    if (!status || sameReport(status, this.current)) return;
    this.current = status;
    this.emit('state', status);
  }

  /** A login, once the predecessor (if any) has logged out: also after a disconnect() while waiting. */
  private leaveIdle(): void {
    const predecessor = this.predecessor;
    if (!predecessor) return this.start();
    const waiting: Phase = { kind: 'waiting', predecessor };
    this.enter(waiting);
    const go = () => {
      if (this.phase === waiting) this.start();
    };
    predecessor.then(go, go);
  }

  /** A login attempt once the process-wide login pace lets it through (at once when it can). */
  private start(): void {
    const retrying = this.everConnected || this.attempt > 0;
    const pace = this.tuning.loginPace;
    if (!pace) return this.begin(retrying);
    const queued: Phase = {
      kind: 'queued',
      retrying,
      turn: () => {
        if (this.phase === queued) this.begin(retrying);
      },
    };
    if (pace.admit(queued.turn)) return this.begin(retrying);
    this.enter(queued);
  }

  /** The login attempt itself: credentials (maybe over HTTPS first), then a fresh session. */
  private begin(retrying: boolean): void {
    this.uplink.restoreJournal((code, params) => this.emit('warning', code, params));
    this.lastError = undefined;
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
    const clientOptions = loginOptions(login, options, endpoint, this.tuning.connectTimeoutMs);
    let session: MqttSession;
    try {
      session = new MqttSession(this.tuning.connect, login.broker, clientOptions, {
        connect: () => this.onConnect(session),
        message: (topic, payload, packet) => this.subscriptions.dispatch(topic, payload, packet),
        error: (err) => {
          if (sessionOf(this.phase) === session) this.lastError = { code: err.code, message: err.message };
        },
        close: () => this.onClose(session),
      });
    } catch (err) {
      // mqtt.js refuses some addresses at once (a WebSocket URL it cannot build) instead of failing
      // the socket. Called from the login pace's timer or another node's input, the throw would
      // be lost and the connection left waiting for good: it is a failed attempt like any other.
      return this.loginFailed(err);
    }
    this.enter({ kind: 'dialing', session, retrying });
  }

  private onConnect(session: MqttSession): void {
    if (this.phase.kind !== 'dialing' || this.phase.session !== session) return;
    this.everConnected = true;
    // The SUBSCRIBE goes out first: a request a 'connected' listener sends at once (config/get,
    // QoS 0, written straight away) must not reach the platform before the filter of its reply.
    this.subscriptions.resume(session.client, this.options.cleanSession);
    this.enter({ kind: 'online', session, since: this.tuning.now() });
    this.uplink.flush();
  }

  private onClose(session: MqttSession): void {
    const phase = this.phase;
    if ((phase.kind !== 'dialing' && phase.kind !== 'online') || phase.session !== session) return;
    const verdict = classifyClose({
      sessionMs: phase.kind === 'online' ? this.tuning.now() - phase.since : undefined,
      code: this.lastError?.code,
      message: this.lastError?.message,
      attempt: this.attempt,
      shortSessions: this.shortSessions,
      stableSessionMs: this.tuning.stableSessionMs,
      kickThreshold: this.tuning.kickThreshold,
      freshCredentials: (refused) => this.login.refused(refused),
    });
    if (verdict.next === 'retry-now') return this.backOff(verdict.cause, false, 0);
    this.attempt = verdict.attempt;
    this.shortSessions = verdict.shortSessions;
    this.backOff(verdict.cause, verdict.authFailed);
  }

  private backOff(cause: Backoff, authFailed: boolean, delayMs?: number): void {
    const delay = delayMs ?? retryDelay(this.attempt, authFailed, this.tuning.backoff, this.tuning.random);
    const timer = setTimeout(() => {
      if (this.phase.kind === 'backoff' && this.phase.timer === timer) this.start();
    }, delay);
    this.enter({ kind: 'backoff', timer, cause, delayMs: delay });
  }
}
