// A device's shadow over its pooled connection, shared by the shadow nodes of the device: requests
// matched to their replies by clientToken, the version kept right (each update one above the
// shadow's, resynchronised with a `get` after a 403 conflict), and the desired state read again on
// every (re)connect, since the platform pushes `control` only to a device that is online then.
import { EventEmitter } from 'node:events';
import type { ConnectionStatus, DeviceChannel, SubscriptionHandle } from './connection';
import { PendingReplies } from './alink';
import { AliyunIotError } from './errors';
import { perConnection } from './shared-subscription';
import { parseShadowMessage, shadowRequests, shadowTopics, type ShadowMessage, type ShadowRequest } from './shadow';

/** The shadow as the flow sees it: the state, its version, and whether the cloud wants a change. */
export interface ShadowSnapshot {
  reported: Record<string, unknown>;
  desired: Record<string, unknown>;
  metadata: unknown;
  version: number;
}

const VERSION_CONFLICT = 403;
const EMPTY_SHADOW = 407;
export const SHADOW_TIMEOUT_MS = 10_000;

export class ShadowClient extends EventEmitter<{ desired: [snapshot: ShadowSnapshot] }> {
  /** The shadow's version as last heard; the next update sends one above it. */
  version = 0;
  /** The desired state last heard is not cleared yet. */
  desiredPending = false;
  private readonly pending = new PendingReplies<ShadowMessage>();
  private seq = 0;
  private users = 0;
  private handle: SubscriptionHandle | undefined;
  private readonly onState = (status: ConnectionStatus): void => {
    if (status.state === 'connected') this.sync();
  };

  constructor(
    private readonly connection: DeviceChannel,
    private readonly timeoutMs = SHADOW_TIMEOUT_MS,
  ) {
    super();
    this.setMaxListeners(0);
  }

  /** While a node uses it, the reply topic stays subscribed and every connect reads the shadow. */
  attach(): () => void {
    if (this.users++ === 0) {
      this.handle = this.connection.subscribe(shadowTopics.get(this.connection.options), 1, ({ payload }) =>
        this.received(payload),
      );
      this.connection.on('state', this.onState);
      if (this.connection.state === 'connected') this.sync();
    }
    let attached = true;
    return () => {
      if (!attached) return;
      attached = false;
      if (--this.users > 0) return;
      this.connection.off('state', this.onState);
      this.handle?.close(false);
      this.handle = undefined;
      this.pending.failAll(new AliyunIotError('CONNECTION_CLOSED'));
    };
  }

  /** Reads the shadow; a desired state in it is announced. */
  async get(): Promise<ShadowSnapshot> {
    const reply = await this.request((token) => shadowRequests.get(token)).catch((err: unknown) => {
      // 407: a shadow never written is an empty one, not a failure.
      if (err instanceof AliyunIotError && err.platformCode === EMPTY_SHADOW) return undefined;
      throw err;
    });
    if (!reply) return { reported: {}, desired: {}, metadata: {}, version: this.version };
    const snapshot = this.snapshotOf(reply);
    if (Object.keys(snapshot.desired).length > 0) {
      this.desiredPending = true;
      this.emit('desired', snapshot);
    }
    return snapshot;
  }

  /**
   * Reports values; a key given as null is deleted from the reported state (the platform deletes
   * with a `delete` request: an update would store the "null" string).
   */
  async report(reported: Record<string, unknown>): Promise<number> {
    const entries = Object.entries(reported);
    const kept = Object.fromEntries(entries.filter(([, v]) => v !== null));
    const dropped = entries.filter(([, v]) => v === null).map(([k]) => k);
    let version = this.version;
    if (Object.keys(kept).length > 0 || dropped.length === 0)
      version = await this.versioned((v, token) => shadowRequests.report(kept, v, token));
    if (dropped.length > 0) version = await this.deleteReported(dropped);
    return version;
  }

  async clearDesired(): Promise<number> {
    const version = await this.versioned((v, token) => shadowRequests.clearDesired(v, token));
    this.desiredPending = false;
    return version;
  }

  deleteReported(keys: readonly string[] | undefined): Promise<number> {
    return this.versioned((version, token) => shadowRequests.deleteReported(keys, version, token));
  }

  private sync(): void {
    // Nobody awaits it: a failure here is retried on the next connect; the flow can `get` itself.
    this.get().catch(() => undefined);
  }

  /** An update with the next version; after a conflict (403) the version is read again, once. */
  private async versioned(build: (version: number, token: string) => ShadowRequest): Promise<number> {
    try {
      return this.versionOf(await this.request((token) => build(this.version + 1, token)));
    } catch (err) {
      if (!(err instanceof AliyunIotError) || err.platformCode !== VERSION_CONFLICT) throw err;
      await this.request((token) => shadowRequests.get(token)).then((r) => this.snapshotOf(r));
      return this.versionOf(await this.request((token) => build(this.version + 1, token)));
    }
  }

  private versionOf(reply: ShadowMessage): number {
    if (reply.version !== undefined) this.version = reply.version;
    return this.version;
  }

  private snapshotOf(reply: ShadowMessage): ShadowSnapshot {
    this.versionOf(reply);
    return {
      reported: reply.reported ?? {},
      desired: reply.desired ?? {},
      metadata: reply.metadata ?? {},
      version: this.version,
    };
  }

  private request(build: (token: string) => ShadowRequest): Promise<ShadowMessage> {
    const token = `${this.connection.options.productKey}.${this.connection.options.deviceName}-${++this.seq}`;
    const reply = this.pending.expect(token);
    // The deadline runs from when the request left, not while it waited in the offline queue.
    this.connection.publish(shadowTopics.update(this.connection.options), JSON.stringify(build(token)), 1, (err) =>
      err ? this.pending.fail(token, err) : this.pending.arm(token, this.timeoutMs),
    );
    return reply;
  }

  private received(payload: Buffer): void {
    const message = parseShadowMessage(payload);
    if (!message) return;
    if (message.kind === 'control') {
      const snapshot = this.snapshotOf(message);
      if (Object.keys(snapshot.desired).length === 0) return;
      this.desiredPending = true;
      this.emit('desired', snapshot);
      return;
    }
    // A reply without a clientToken (a platform that does not echo it) goes to the oldest request.
    const token = message.clientToken ?? this.pending.oldest();
    if (token === undefined) return;
    if (message.ok) return void this.pending.resolve(token, message);
    const code = message.errorCode ?? 500;
    this.pending.fail(token, new AliyunIotError('SHADOW_REFUSED', { code, message: message.errorMessage }, code));
  }
}

export const shadowClientOf = perConnection((connection) => new ShadowClient(connection));
