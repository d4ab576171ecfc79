// A device's OTA traffic over its pooled connection, shared by the OTA nodes of the device: the
// upgrade pushes in, version and progress reports out, firmware/get matched to its reply by id,
// and the MQTT-channel download's frames, subscribed before any block is asked for.
import { EventEmitter } from 'node:events';
import { AlinkIds, PendingReplies } from '../alink';
import type { ConnectionStatus, DeviceChannel, SubscriptionHandle } from '../connection';
import { AliyunIotError } from '../errors';
import { parseJsonObject } from '../payload';
import { perConnection } from '../shared-subscription';
import { otaBodies, otaTopics, parseOffer, parseUpgradePush, type OfferParse } from './protocol';

export const FIRMWARE_GET_TIMEOUT_MS = 10_000;

interface OtaEvents {
  /** A push from the cloud (parsed, or why it could not be). */
  push: [offer: OfferParse];
  /** The connection is up (again): time to report the versions. */
  connected: [];
}

export class OtaClient extends EventEmitter<OtaEvents> {
  private readonly ids = new AlinkIds();
  private readonly pending = new PendingReplies<Record<string, unknown>>();
  private readonly frameListeners = new Set<(payload: Buffer) => void>();
  private handles: SubscriptionHandle[] = [];
  private users = 0;
  private readonly onState = (status: ConnectionStatus): void => {
    if (status.state === 'connected') this.emit('connected');
  };

  constructor(
    private readonly connection: DeviceChannel,
    private readonly timeoutMs = FIRMWARE_GET_TIMEOUT_MS,
  ) {
    super();
    this.setMaxListeners(0);
  }

  get device() {
    return this.connection.options;
  }

  /** The TLS trust of the device's connection, for downloads from the platform. */
  get trust() {
    return this.connection.trust;
  }

  get connected(): boolean {
    return this.connection.state === 'connected';
  }

  /** While a node uses it, the OTA topics stay subscribed. */
  attach(): () => void {
    if (this.users++ === 0) {
      const d = this.device;
      this.handles = [
        this.connection.subscribe(otaTopics.upgrade(d), 1, ({ payload }) => {
          const offer = parseUpgradePush(payload);
          if (offer) this.emit('push', offer);
        }),
        this.connection.subscribe(otaTopics.firmwareGetReply(d), 0, ({ payload }) => this.reply(payload)),
        this.connection.subscribe(otaTopics.fileDownloadReply(d), 0, ({ payload }) => {
          for (const listener of this.frameListeners) listener(payload);
        }),
      ];
      this.connection.on('state', this.onState);
    }
    let attached = true;
    return () => {
      if (!attached) return;
      attached = false;
      if (--this.users > 0) return;
      this.connection.off('state', this.onState);
      for (const handle of this.handles) handle.close(false);
      this.handles = [];
      this.pending.failAll(new AliyunIotError('CONNECTION_CLOSED'));
    };
  }

  nextId(): string {
    return this.ids.next();
  }

  /** The version a module runs: at every connect, and after an upgrade was applied. */
  report(version: string, module: string): Promise<void> {
    return this.send(otaTopics.inform(this.device), otaBodies.inform(this.nextId(), version, module), 1);
  }

  progress(step: number, desc: string, module: string): Promise<void> {
    return this.send(otaTopics.progress(this.device), otaBodies.progress(this.nextId(), step, desc, module), 0);
  }

  /** Asks the cloud for firmware pending for the module; undefined: none. */
  async requestFirmware(module: string): Promise<OfferParse | undefined> {
    const id = this.nextId();
    const reply = this.pending.expect(id);
    this.connection.publish(otaTopics.firmwareGet(this.device), otaBodies.firmwareGet(id, module), 0, (err) =>
      err ? this.pending.fail(id, err) : this.pending.arm(id, this.timeoutMs),
    );
    const body = await reply;
    const code = Number(body.code);
    if (code !== 200) {
      const message = typeof body.message === 'string' ? body.message : '';
      throw new AliyunIotError('REPLY_ERROR', { code, message }, code);
    }
    return parseOffer(body.data);
  }

  /** One block request of the MQTT-channel download; its answer comes as a frame. */
  requestBlock(body: string): void {
    this.connection.publish(otaTopics.fileDownload(this.device), body, 0, () => undefined);
  }

  /** Frames of the MQTT-channel download, until the returned function is called. */
  listenFrames(listener: (payload: Buffer) => void): () => void {
    this.frameListeners.add(listener);
    return () => this.frameListeners.delete(listener);
  }

  private reply(payload: Buffer): void {
    const body = parseJsonObject(payload);
    if (body && (typeof body.id === 'string' || typeof body.id === 'number'))
      this.pending.resolve(String(body.id), body);
  }

  private send(topic: string, body: string, qos: 0 | 1): Promise<void> {
    return new Promise((resolve, reject) => {
      this.connection.publish(topic, body, qos, (err) => (err ? reject(err) : resolve()));
    });
  }
}

export const otaClientOf = perConnection((connection) => new OtaClient(connection));
