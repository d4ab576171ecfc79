// One gateway's sub-devices over its pooled connection (PLATFORM.md §11): every time the gateway
// comes online it reads its topology, adds the sub-devices missing from it, and logs them all in
// (the platform logged them out when the gateway dropped), 50 per batch and at most 200 a second.
// `/ext/error` codes re-log a sub-device in, back it off, or stop it until the user acts.
import { retryDelay } from '../backoff';
import { AlinkIds, parseReply, PendingReplies, type AlinkReply, type AlinkRequest, type DeviceRef } from '../alink';
import type { ConnectionState, ConnectionStatus, Delivery, SubscriptionHandle } from '../connection';
import { AliyunIotError } from '../errors';
import {
  batchLoginRequests,
  batchLogoutRequests,
  devicesIn,
  gatewayTopics,
  LOGIN_BATCH,
  LOGINS_PER_SECOND,
  TOPO_BATCH,
  parseExtError,
  parseTopoChange,
  replyTopic,
  topoGetRequest,
  topoAddRequests,
  verdictOf,
} from './protocol';
import {
  DEFAULT_SESSION_TUNING,
  type GatewayLink,
  type SessionTuning,
  type SubDeviceMember,
  type SubDeviceState,
} from './parties';

export type { GatewayLink, SessionTuning, SubDeviceMember, SubDeviceState } from './parties';

const keyOf = (d: DeviceRef): string => `${d.productKey}/${d.deviceName}`;

interface Entry {
  readonly member: SubDeviceMember;
  state: SubDeviceState;
  attempt: number;
  retry?: NodeJS.Timeout;
}

export class GatewaySession {
  private readonly entries = new Map<string, Entry>();
  private readonly replies = new PendingReplies();
  private readonly ids = new AlinkIds();
  private readonly handles: SubscriptionHandle[];
  private readonly tuning: SessionTuning;
  /** Bumped whenever the gateway leaves `connected`: work of an older generation stops. */
  private generation = 0;
  /** The gateway's topology as read in this generation, kept up to date by what it adds. */
  private topology: Set<string> | undefined;
  /** Sub-devices waiting for the next batch login. */
  private readonly due = new Set<string>();
  private loginTimer: NodeJS.Timeout | undefined;
  private lastBatchAt = -Infinity;
  private readonly onState = (status: ConnectionStatus): void => this.gatewayState(status.state);

  constructor(
    private readonly gateway: GatewayLink,
    tuning: Partial<SessionTuning> = {},
  ) {
    this.tuning = { ...DEFAULT_SESSION_TUNING, ...tuning };
    const gw = gateway.options;
    const onReply = (d: Delivery): void => {
      const reply = parseReply(d.payload);
      if (reply) this.replies.settle(reply);
    };
    // Replies and errors are subscribed once; the connection subscribes again after a reconnect.
    this.handles = [
      gateway.subscribe(replyTopic(gatewayTopics.topoGet(gw)), 0, onReply),
      gateway.subscribe(replyTopic(gatewayTopics.topoAdd(gw)), 0, onReply),
      gateway.subscribe(replyTopic(gatewayTopics.batchLogin(gw)), 0, onReply),
      gateway.subscribe(replyTopic(gatewayTopics.batchLogout(gw)), 0, onReply),
      gateway.subscribe(gatewayTopics.error(gw), 0, (d) => this.extError(d.payload)),
      gateway.subscribe(gatewayTopics.topoChange(gw), 0, (d) => this.topoChange(d.payload)),
    ];
    gateway.on('state', this.onState);
  }

  /** Adds a sub-device; it logs in as soon as the gateway is online. Returns its removal. */
  attach(member: SubDeviceMember): () => void {
    const key = keyOf(member.device);
    const entry: Entry = { member, state: 'gateway-offline', attempt: 0 };
    this.entries.set(key, entry);
    if (this.gateway.state === 'connected') this.queueLogin(entry);
    else member.changed('gateway-offline');
    return () => {
      if (this.entries.get(key) !== entry) return;
      this.entries.delete(key);
      this.due.delete(key);
      clearTimeout(entry.retry);
      if (entry.state === 'online' && this.gateway.state === 'connected') this.logout([member.device]);
    };
  }

  /** The session's state for one sub-device, for status queries. */
  stateOf(device: DeviceRef): SubDeviceState | undefined {
    return this.entries.get(keyOf(device))?.state;
  }

  close(): void {
    this.gateway.off('state', this.onState);
    for (const handle of this.handles) handle.close(false);
    for (const entry of this.entries.values()) clearTimeout(entry.retry);
    clearTimeout(this.loginTimer);
    this.entries.clear();
    this.due.clear();
    this.replies.failAll(new AliyunIotError('CONNECTION_CLOSED'));
  }

  private gatewayState(state: ConnectionState): void {
    if (state === 'connected') {
      for (const entry of this.entries.values()) this.queueLogin(entry);
      return;
    }
    this.generation++;
    this.topology = undefined;
    clearTimeout(this.loginTimer);
    this.loginTimer = undefined;
    this.due.clear();
    this.replies.failAll(new AliyunIotError('CONNECTION_CLOSED'));
    for (const entry of this.entries.values()) {
      clearTimeout(entry.retry);
      this.set(entry, 'gateway-offline');
    }
  }

  private set(entry: Entry, state: SubDeviceState, code?: number | string): void {
    if (entry.state === state && code === undefined) return;
    entry.state = state;
    entry.member.changed(state, code);
  }

  private queueLogin(entry: Entry): void {
    this.set(entry, 'logging-in');
    this.due.add(keyOf(entry.member.device));
    this.scheduleLogin();
  }

  /** Sub-devices attached in one deploy go in one batch; batches keep to 200 logins a second. */
  private scheduleLogin(): void {
    if (this.loginTimer || this.due.size === 0) return;
    const spacing = (LOGIN_BATCH / LOGINS_PER_SECOND) * 1000;
    const wait = Math.max(0, this.lastBatchAt + spacing - this.tuning.now());
    this.loginTimer = setTimeout(() => {
      this.loginTimer = undefined;
      void this.loginDue();
    }, wait);
  }

  /** Adds what the topology lacks, then logs one batch of due sub-devices in. */
  private async loginDue(): Promise<void> {
    const generation = this.generation;
    const batch = [...this.due]
      .slice(0, LOGIN_BATCH)
      .map((key) => this.entries.get(key))
      .filter((e): e is Entry => e !== undefined);
    for (const entry of batch) this.due.delete(keyOf(entry.member.device));
    if (batch.length === 0) return;
    this.lastBatchAt = this.tuning.now();
    this.scheduleLogin();
    try {
      const ready = await this.withTopology(batch, generation);
      if (ready.length === 0 || generation !== this.generation) return;
      const gw = this.gateway.options;
      // One batch of at most 50: one request. Its cleanSession keeps queued messages unless all agree.
      const cleanSession = ready.every((e) => e.member.cleanSession);
      const devices = ready.map((e) => e.member.device);
      for (const req of batchLoginRequests(devices, gw.signmethod, cleanSession, this.tuning.now(), () =>
        this.ids.next(),
      )) {
        const reply = await this.send(gatewayTopics.batchLogin(gw), req);
        if (generation !== this.generation) return;
        for (const entry of ready) this.loginAnswered(entry, reply.code);
      }
    } catch (err) {
      if (generation !== this.generation) return;
      const code = err instanceof AliyunIotError ? (err.platformCode ?? err.code) : 'LOGIN_FAILED';
      for (const entry of batch) this.retryLater(entry, code, false);
    }
  }

  /** The batch's sub-devices that are in the topology, after adding those that were not. */
  private async withTopology(batch: Entry[], generation: number): Promise<Entry[]> {
    const gw = this.gateway.options;
    const topology = this.topology ?? (await this.readTopology());
    if (generation !== this.generation) return [];
    this.topology = topology;
    const missing = batch.filter((e) => !topology.has(keyOf(e.member.device)));
    const requests = topoAddRequests(
      missing.map((e) => e.member.device),
      gw.signmethod,
      this.tuning.now(),
      () => this.ids.next(),
    );
    const refused = new Set<Entry>();
    for (const [i, req] of requests.entries()) {
      const reply = await this.send(gatewayTopics.topoAdd(gw), req);
      if (generation !== this.generation) return [];
      const slice = missing.slice(i * TOPO_BATCH, (i + 1) * TOPO_BATCH);
      for (const entry of slice) {
        if (reply.code === 200) topology.add(keyOf(entry.member.device));
        else {
          refused.add(entry);
          this.loginAnswered(entry, reply.code);
        }
      }
    }
    return batch.filter((e) => !refused.has(e));
  }

  private async readTopology(): Promise<Set<string>> {
    const reply = await this.send(gatewayTopics.topoGet(this.gateway.options), topoGetRequest(this.ids.next()));
    if (reply.code !== 200) throw new AliyunIotError('REPLY_ERROR', { code: reply.code, message: reply.message });
    return new Set(devicesIn(reply.data).map(keyOf));
  }

  private loginAnswered(entry: Entry, code: number): void {
    if (this.entries.get(keyOf(entry.member.device)) !== entry) return;
    if (code === 200) {
      entry.attempt = 0;
      return this.set(entry, 'online');
    }
    const verdict = verdictOf(code);
    if (verdict === 'stop') return this.set(entry, 'login-failed', code);
    this.retryLater(entry, code, verdict === 'kicked');
  }

  private retryLater(entry: Entry, code: number | string, kicked: boolean): void {
    entry.attempt++;
    this.set(entry, kicked ? 'kicked' : 'login-failed', code);
    clearTimeout(entry.retry);
    const delay = retryDelay(entry.attempt, kicked, this.tuning.backoff, this.tuning.random);
    entry.retry = setTimeout(() => {
      if (this.entries.get(keyOf(entry.member.device)) === entry && this.gateway.state === 'connected')
        this.queueLogin(entry);
    }, delay);
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

  /**
   * The cloud changed the topology or a sub-device (PLATFORM.md §11): added (0) or enabled (2) lifts a
   * stop and logs the sub-device in; deleted (1) and disabled (8) stop it as 6401 and 522 would.
   */
  private topoChange(payload: Buffer): void {
    const change = parseTopoChange(payload);
    for (const device of change?.devices ?? []) {
      const entry = this.entries.get(keyOf(device));
      if (change?.status === 0) this.topology?.add(keyOf(device));
      if (change?.status === 1) this.topology?.delete(keyOf(device));
      if (!entry) continue;
      if (change?.status === 1 || change?.status === 8) this.loginAnswered(entry, change.status === 1 ? 6401 : 522);
      else if (entry.state !== 'online' && this.gateway.state === 'connected') this.queueLogin(entry);
    }
  }

  private logout(devices: DeviceRef[]): void {
    for (const req of batchLogoutRequests(devices, () => this.ids.next())) {
      // Nobody waits for the answer: the sub-device is gone from the flow either way.
      this.send(gatewayTopics.batchLogout(this.gateway.options), req).catch(() => undefined);
    }
  }

  /** Publishes a request at QoS 0 (login topics take nothing else) and waits for its reply. */
  private send(topic: string, req: AlinkRequest): Promise<AlinkReply> {
    const reply = this.replies.expect(req.id);
    this.gateway.publish(topic, JSON.stringify(req), 0, (err) => {
      if (err) this.replies.fail(req.id, err);
      else this.replies.arm(req.id, this.tuning.replyTimeoutMs);
    });
    return reply;
  }
}
