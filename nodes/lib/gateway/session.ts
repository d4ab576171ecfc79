// One gateway's sub-devices over its pooled connection (PLATFORM.md §11): every time the gateway
// comes online it reads its topology, adds the sub-devices missing from it, and logs them all in
// (the platform logged them out when the gateway dropped), 50 per batch and at most 200 a second.
// `/ext/error` codes re-log a sub-device in, back it off, or stop it until the user acts.
import { retryDelay } from '../backoff';
import { SharedPace } from '../pacer';
import { EventEmitter } from 'node:events';
import type { AlinkReply, DeviceRef } from '../alink';
import type { ConnectionState, ConnectionStatus, SubscriptionHandle } from '../connection';
import { parseJsonObject } from '../payload';
import { AliyunIotError } from '../errors';
import {
  batchLoginRequests,
  batchLogoutRequests,
  gatewayTopics,
  keyOf,
  LOGIN_BATCH,
  LOGINS_PER_SECOND,
  parseExtError,
  parseTopoChange,
  replyTopic,
  splitRefusal,
  verdictOf,
  type SubDevice,
} from './protocol';
import {
  addToTopology,
  issuedSecrets,
  keepSecret,
  obtainSecrets,
  type AdmissionContext,
  type Candidate,
  type Refusals,
} from './admission';
import { GatewayRequests } from './requests';
import { addTopology, deleteTopology, readTopology, reportFound } from './topology';
import {
  DEFAULT_SESSION_TUNING,
  type GatewayLink,
  type SessionTuning,
  type SubDeviceMember,
  type SubDeviceState,
} from './parties';

export type { GatewayLink, SessionTuning, SubDeviceMember, SubDeviceState } from './parties';

/** Between two batch logins: 50 at 200 a second is 250 ms, with 10 % of margin (see scheduleLogin). */
export const LOGIN_SPACING_MS = Math.ceil((LOGIN_BATCH / LOGINS_PER_SECOND) * 1000 * 1.1);

interface Entry extends Candidate {
  readonly member: SubDeviceMember;
  state: SubDeviceState;
  attempt: number;
  retry?: NodeJS.Timeout;
  /** Its last batch failed without naming who was at fault: it logs in by itself next. */
  alone?: boolean;
}

/** What the cloud tells the gateway about its topology, passed on to the flow (the connect node). */
export type GatewayNotice = 'topo-change' | 'topo-add-notify';

export class GatewaySession extends EventEmitter<{ notice: [kind: GatewayNotice, params: unknown] }> {
  private readonly entries = new Map<string, Entry>();
  private readonly requests: GatewayRequests;
  private readonly handles: SubscriptionHandle[];
  private readonly tuning: SessionTuning;
  /** The gateway-wide pace of its sub-devices' messages (the gateway's `gatewayRateLimit`). */
  readonly pace: SharedPace;
  /** Bumped whenever the gateway leaves `connected`: work of an older generation stops. */
  private generation = 0;
  /** The gateway's topology as read in this generation, kept up to date by what it adds. */
  private known: Set<string> | undefined;
  /** Sub-devices waiting for the next batch login. */
  private readonly due = new Set<string>();
  private loginTimer: NodeJS.Timeout | undefined;
  private lastBatchAt = -Infinity;
  /** A batch is being prepared or logged in: the next one waits for its answer. */
  private batchOnItsWay = false;
  private readonly onState = (status: ConnectionStatus): void => this.gatewayState(status.state);

  constructor(
    private readonly gateway: GatewayLink,
    tuning: Partial<SessionTuning> = {},
  ) {
    super();
    this.tuning = { ...DEFAULT_SESSION_TUNING, ...tuning };
    const gw = gateway.options;
    this.pace = new SharedPace(gw.gatewayRateLimit ?? 0, this.tuning.now);
    this.requests = new GatewayRequests(gateway, this.tuning.replyTimeoutMs);
    const registered = replyTopic(gatewayTopics.subRegister(gw));
    this.requests.onUnexpected = (topic, reply) => {
      if (topic === registered) void this.lateRegistration(reply);
    };
    this.handles = [
      gateway.subscribe(gatewayTopics.error(gw), 0, (d) => this.extError(d.payload)),
      gateway.subscribe(gatewayTopics.topoChange(gw), 0, (d) => this.notice('topo-change', d.payload)),
      gateway.subscribe(gatewayTopics.topoAddNotify(gw), 0, (d) => this.notice('topo-add-notify', d.payload)),
    ];
    gateway.on('state', this.onState);
  }

  /** Adds a sub-device; it logs in as soon as the gateway is online. Returns its removal. */
  attach(member: SubDeviceMember): () => void {
    const key = keyOf(member.device);
    const { device, store } = member;
    // Registration mode: a DeviceSecret the user entered anyway wins over registering.
    const secret = device.deviceSecret || undefined;
    const warn: Entry['warn'] = (code, params) => member.warn?.(code, params);
    const entry: Entry = { member, device, secret, store, warn, state: 'gateway-offline', attempt: 0 };
    this.entries.set(key, entry);
    if (this.gateway.state === 'connected') this.queueLogin(entry);
    else member.changed('gateway-offline');
    return () => {
      if (this.entries.get(key) !== entry) return;
      this.entries.delete(key);
      this.due.delete(key);
      clearTimeout(entry.retry);
      // A login may be on its way: log out then too (a logout of a device not logged in is harmless).
      const maybeIn = entry.state === 'online' || entry.state === 'logging-in';
      if (maybeIn && this.gateway.state === 'connected') this.logout([member.device]);
    };
  }

  /** The session's state for one sub-device, for status queries. */
  stateOf(device: DeviceRef): SubDeviceState | undefined {
    return this.entries.get(keyOf(device))?.state;
  }

  /** The topology as the platform has it (the connect node's actions). */
  topology(): Promise<DeviceRef[]> {
    return this.online(() => readTopology(this.requests, this.gateway.options));
  }

  addTopology(subs: readonly SubDevice[]): Promise<DeviceRef[]> {
    return this.online(() => addTopology(this.requests, this.gateway.options, subs, this.tuning.now()), true);
  }

  deleteTopology(refs: readonly DeviceRef[]): Promise<DeviceRef[]> {
    return this.online(() => deleteTopology(this.requests, this.gateway.options, refs), true);
  }

  reportFound(refs: readonly DeviceRef[]): Promise<void> {
    return this.online(() => reportFound(this.requests, this.gateway.options, refs));
  }

  close(): void {
    this.gateway.off('state', this.onState);
    for (const handle of this.handles) handle.close(false);
    for (const entry of this.entries.values()) clearTimeout(entry.retry);
    clearTimeout(this.loginTimer);
    this.pace.stop();
    this.entries.clear();
    this.due.clear();
    this.requests.close(new AliyunIotError('CONNECTION_CLOSED'));
  }

  /** Topology requests need the gateway online; a change makes the next login read it again. */
  private online<T>(run: () => Promise<T>, changes = false): Promise<T> {
    if (this.gateway.state !== 'connected') return Promise.reject(new AliyunIotError('GATEWAY_NOT_ONLINE'));
    if (changes) this.known = undefined;
    return run();
  }

  private notice(kind: GatewayNotice, payload: Buffer): void {
    const params = parseJsonObject(payload)?.params;
    if (params === undefined) return;
    if (kind === 'topo-change') this.topoChange(payload);
    this.emit('notice', kind, params);
  }

  private gatewayState(state: ConnectionState): void {
    if (state === 'connected') {
      for (const entry of this.entries.values()) this.queueLogin(entry);
      return;
    }
    this.generation++;
    this.known = undefined;
    clearTimeout(this.loginTimer);
    this.loginTimer = undefined;
    this.due.clear();
    this.requests.failAll(new AliyunIotError('CONNECTION_CLOSED'));
    for (const entry of this.entries.values()) {
      clearTimeout(entry.retry);
      this.set(entry, 'gateway-offline');
    }
  }

  private set(entry: Entry, state: SubDeviceState, code?: number | string, retryMs?: number): void {
    if (entry.state === state && code === undefined) return;
    entry.state = state;
    entry.member.changed(state, code, retryMs);
  }

  private queueLogin(entry: Entry): void {
    // A retry timer still armed must not log it in a second time (a topo/change came first).
    clearTimeout(entry.retry);
    entry.retry = undefined;
    this.set(entry, 'logging-in');
    this.due.add(keyOf(entry.device));
    this.scheduleLogin();
  }

  /**
   * Sub-devices attached in one deploy go in one batch; batches keep below 200 logins a second.
   * Spaced exactly at the limit, a few ms of jitter put a fifth batch into the platform's one-second
   * window and got it refused (429, seen in the bench): 10 % of margin. One batch at a time, the
   * next spaced from the last one's answer: spaced from their starts, batches whose requests had
   * waited in the gateway's queue (behind messages kept while it was offline) left it on each
   * other's heels, each after a topology read of its own.
   */
  private scheduleLogin(): void {
    if (this.loginTimer || this.batchOnItsWay || this.due.size === 0) return;
    const wait = Math.max(0, this.lastBatchAt + LOGIN_SPACING_MS - this.tuning.now());
    this.loginTimer = setTimeout(() => {
      this.loginTimer = undefined;
      void this.loginDue();
    }, wait);
  }

  /** Gets what a batch of due sub-devices lacks (secret, topology), then logs it in. */
  private async loginDue(): Promise<void> {
    const generation = this.generation;
    const due = [...this.due].map((key) => this.entries.get(key)).filter((e): e is Entry => e !== undefined);
    // One that must log in by itself goes in a batch of its own, once those in company have gone.
    const together = due.filter((e) => !e.alone).slice(0, LOGIN_BATCH);
    const batch = together.length > 0 ? together : due.slice(0, 1);
    for (const entry of batch) this.due.delete(keyOf(entry.device));
    if (batch.length === 0) return;
    this.batchOnItsWay = true;
    const ctx: AdmissionContext = {
      requests: this.requests,
      gateway: this.gateway.options,
      now: this.tuning.now,
      alive: () => generation === this.generation,
    };
    try {
      // Only registration mode may lack a secret: the common batch goes on without waiting here.
      const lacking = batch.filter((e) => e.secret === undefined);
      let ready = lacking.length > 0 ? this.admitted(batch, await obtainSecrets(ctx, lacking)) : batch;
      const topology = this.known ?? (await this.readTopology());
      if (!ctx.alive()) return;
      this.known = topology;
      ready = this.admitted(ready, await addToTopology(ctx, ready, topology));
      // One removed from the flow meanwhile was logged out already: it must not log in after that.
      ready = ready.filter((e) => this.attached(e));
      if (ready.length === 0 || !ctx.alive()) return;
      const gw = this.gateway.options;
      // One batch of at most 50: one request. Its cleanSession keeps queued messages unless all agree.
      const cleanSession = ready.every((e) => e.member.cleanSession);
      const devices = ready.map((e) => ({ ...e.device, deviceSecret: e.secret ?? '' }));
      for (const req of batchLoginRequests(devices, gw.signmethod, cleanSession, this.tuning.now(), () =>
        this.requests.nextId(),
      )) {
        const reply = await this.requests.send(gatewayTopics.batchLogin(gw), req);
        if (!ctx.alive()) return;
        this.batchAnswered(ready, reply.code, reply.data);
      }
    } catch (err) {
      if (!ctx.alive()) return;
      const code = err instanceof AliyunIotError ? (err.platformCode ?? err.code) : 'LOGIN_FAILED';
      // Not those a step already answered (stopped), nor those removed from the flow meanwhile.
      for (const entry of batch)
        if (this.attached(entry) && entry.state === 'logging-in') this.retryLater(entry, code, false);
    } finally {
      this.batchOnItsWay = false;
      this.lastBatchAt = this.tuning.now();
      this.scheduleLogin();
    }
  }

  /** Logs in one neither online nor on its way in (a second login would follow the first). */
  private loginIfOut(entry: Entry): void {
    const out = entry.state !== 'online' && entry.state !== 'logging-in';
    if (out && this.gateway.state === 'connected') this.queueLogin(entry);
  }

  private attached(entry: Entry): boolean {
    return this.entries.get(keyOf(entry.device)) === entry;
  }

  /** A batch login's answer: see splitRefusal for a failure that names who was at fault. */
  private batchAnswered(batch: readonly Entry[], code: number, data: unknown): void {
    if (code === 200) {
      for (const entry of batch) this.loginAnswered(entry, code);
      return;
    }
    const { atFault, again, alone } = splitRefusal(batch, code, data);
    for (const entry of atFault) this.loginAnswered(entry, code);
    for (const entry of again) {
      if (!this.attached(entry)) continue;
      entry.alone = alone;
      this.queueLogin(entry);
    }
  }

  /** The entries a step did not refuse; the refused ones learn why. */
  private admitted(entries: readonly Entry[], refused: Refusals): Entry[] {
    for (const [candidate, code] of refused) this.loginAnswered(candidate as Entry, code);
    return entries.filter((e) => !refused.has(e));
  }

  private async readTopology(): Promise<Set<string>> {
    return new Set((await readTopology(this.requests, this.gateway.options)).map(keyOf));
  }

  private loginAnswered(entry: Entry, code: number): void {
    if (!this.attached(entry)) return;
    entry.alone = false;
    if (code === 200) {
      entry.attempt = 0;
      return this.set(entry, 'online');
    }
    const verdict = verdictOf(code);
    if (verdict === 'stop') return this.set(entry, 'login-failed', code);
    this.retryLater(entry, code, verdict === 'kicked');
  }

  /** Backs off and logs in again: a refusal worth retrying (429, 428, a lost reply) or a kick. */
  private retryLater(entry: Entry, code: number | string, kicked: boolean): void {
    entry.attempt++;
    clearTimeout(entry.retry);
    const delay = retryDelay(entry.attempt, kicked, this.tuning.backoff, this.tuning.random);
    this.set(entry, kicked ? 'kicked' : 'retrying', code, delay);
    entry.retry = setTimeout(() => {
      if (this.attached(entry) && this.gateway.state === 'connected') this.queueLogin(entry);
    }, delay);
  }

  /**
   * A sub/register answered after its deadline: the platform issues a secret once and answers a
   * second request with 6289, so a secret that came late is kept now and its sub-device logs in.
   */
  private async lateRegistration(reply: AlinkReply): Promise<void> {
    for (const [key, secret] of issuedSecrets(reply)) {
      const entry = this.entries.get(key);
      if (!entry || entry.secret !== undefined) continue;
      await keepSecret(entry, secret);
      if (this.attached(entry)) this.loginIfOut(entry);
    }
  }

  private extError(payload: Buffer): void {
    const error = parseExtError(payload);
    const entry = error?.device && this.entries.get(keyOf(error.device));
    if (!error || !entry) return;
    if (verdictOf(error.code) === 'relogin') {
      // The session is gone (520): log in again at once the first time, then with backoff.
      if (entry.attempt === 0) return this.queueLogin(entry);
    }
    this.loginAnswered(entry, error.code);
  }

  /** Cloud-side changes (PLATFORM.md §11): added (0), enabled (2) log in; deleted (1), disabled (8) stop. */
  private topoChange(payload: Buffer): void {
    const change = parseTopoChange(payload);
    for (const device of change?.devices ?? []) {
      const entry = this.entries.get(keyOf(device));
      if (change?.status === 0) this.known?.add(keyOf(device));
      if (change?.status === 1) this.known?.delete(keyOf(device));
      if (!entry) continue;
      if (change?.status === 1 || change?.status === 8) this.loginAnswered(entry, change.status === 1 ? 6401 : 522);
      else this.loginIfOut(entry);
    }
  }

  private logout(devices: DeviceRef[]): void {
    for (const req of batchLogoutRequests(devices, () => this.requests.nextId())) {
      // Nobody waits for the answer: the sub-device is gone from the flow either way.
      this.requests.send(gatewayTopics.batchLogout(this.gateway.options), req).catch(() => undefined);
    }
  }
}
