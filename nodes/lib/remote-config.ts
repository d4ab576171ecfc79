// Remote configuration (远程配置, PLATFORM.md §15.1): the product's configuration file, asked for with
// `thing/config/get` (fields under `data` in the reply) and pushed by the cloud on
// `thing/config/push` (the same fields under `params`), fetched over HTTPS and checked by SHA-256.
import { EventEmitter } from 'node:events';
import { AlinkIds, PendingReplies, type DeviceRef } from './alink';
import type { ConnectionStatus, DeviceChannel, SubscriptionHandle } from './connection';
import { AliyunIotError } from './errors';
import { downloadFile, downloadTlsOf } from './ota/download';
import { digestMethodOf, isDigest, type DigestMethod } from './ota/protocol';
import { BufferSink } from './ota/sink';
import { parseJsonObject } from './payload';
import { perConnection } from './shared-subscription';

const sys = ({ productKey, deviceName }: DeviceRef) => `/sys/${productKey}/${deviceName}/thing/config`;

export const configTopics = {
  get: (d: DeviceRef) => `${sys(d)}/get`,
  getReply: (d: DeviceRef) => `${sys(d)}/get_reply`,
  push: (d: DeviceRef) => `${sys(d)}/push`,
  pushReply: (d: DeviceRef) => `${sys(d)}/push_reply`,
};

/** No configuration for the product. */
export const NO_CONFIG = 6710;
/** Configuration files are small (64 KB on the platform, UNVERIFIED); far larger is not one. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
export const CONFIG_TIMEOUT_MS = 10_000;

export interface ConfigFile {
  configId: string;
  configSize: number;
  sign: string;
  digest: DigestMethod;
  url: string;
}

const text = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

/** The file described by a get reply's `data` or a push's `params`; a string says what is wrong. */
export function parseConfigFile(fields: unknown): ConfigFile | string {
  if (fields === null || typeof fields !== 'object') return 'no configuration fields';
  const f = fields as Record<string, unknown>;
  const configId = text(f.configId);
  const configSize = Number(f.configSize);
  const digest = digestMethodOf(f.signMethod ?? 'Sha256');
  const sign = text(f.sign).toLowerCase();
  const url = text(f.url);
  if (!configId) return 'configId is missing';
  if (!Number.isSafeInteger(configSize) || configSize < 0) return 'configSize is missing';
  if (configSize > MAX_CONFIG_BYTES) return `configSize ${configSize} is too large`;
  if (!digest) return `signMethod ${text(f.signMethod)} is not SHA256 or MD5`;
  if (!isDigest(digest, sign)) return `sign is not a ${digest} digest`;
  if (!url.startsWith('https://') && !url.startsWith('http://')) return 'url is missing';
  return { configId, configSize, sign, digest, url };
}

export const configBodies = {
  get: (id: string) =>
    JSON.stringify({
      id,
      version: '1.0',
      params: { configScope: 'product', getType: 'file' },
      method: 'thing.config.get',
    }),
  pushReply: (id: unknown, code: number, message?: string) =>
    JSON.stringify({ id, code, data: {}, ...(message ? { message } : {}) }),
};

export interface ConfigReceived {
  file: ConfigFile;
  /** The file's text. */
  content: string;
  source: 'get' | 'push';
}

interface ConfigEvents {
  connected: [];
  /** A push, after its file was fetched and verified (and the push answered 200). */
  pushed: [config: ConfigReceived];
  /** A push that could not be taken (answered with an error code). */
  failed: [error: AliyunIotError];
}

/** A device's remote configuration over its pooled connection, shared by its config nodes. */
export class RemoteConfigClient extends EventEmitter<ConfigEvents> {
  private readonly ids = new AlinkIds();
  private readonly pending = new PendingReplies<Record<string, unknown>>();
  private handles: SubscriptionHandle[] = [];
  private users = 0;
  private readonly onState = (status: ConnectionStatus): void => {
    if (status.state === 'connected') this.emit('connected');
  };

  constructor(
    private readonly connection: DeviceChannel,
    private readonly timeoutMs = CONFIG_TIMEOUT_MS,
  ) {
    super();
    this.setMaxListeners(0);
  }

  get connected(): boolean {
    return this.connection.state === 'connected';
  }

  attach(): () => void {
    if (this.users++ === 0) {
      const d = this.connection.options;
      this.handles = [
        this.connection.subscribe(configTopics.getReply(d), 0, ({ payload }) => {
          const body = parseJsonObject(payload);
          if (body && (typeof body.id === 'string' || typeof body.id === 'number'))
            this.pending.resolve(String(body.id), body);
        }),
        this.connection.subscribe(configTopics.push(d), 0, ({ payload }) => this.onPush(payload)),
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

  /** The product's configuration now; undefined when it has none (6710). */
  async get(): Promise<ConfigReceived | undefined> {
    const id = this.ids.next();
    const reply = this.pending.expect(id);
    this.connection.publish(configTopics.get(this.connection.options), configBodies.get(id), 0, (err) =>
      err ? this.pending.fail(id, err) : this.pending.arm(id, this.timeoutMs),
    );
    const body = await reply;
    const code = Number(body.code);
    if (code === NO_CONFIG) return undefined;
    if (code !== 200) {
      const message = typeof body.message === 'string' ? body.message : '';
      throw new AliyunIotError('REPLY_ERROR', { code, message }, code);
    }
    const file = parseConfigFile(body.data);
    if (typeof file === 'string') throw new AliyunIotError('CONFIG_INVALID_FILE', { reason: file });
    return { file, content: await this.fetch(file), source: 'get' };
  }

  private onPush(payload: Buffer): void {
    const body = parseJsonObject(payload);
    const id = body?.id ?? '';
    const file = parseConfigFile(body?.params);
    const answer = (code: number, message?: string) =>
      this.connection.publish(
        configTopics.pushReply(this.connection.options),
        configBodies.pushReply(id, code, message),
        0,
        () => undefined,
      );
    if (typeof file === 'string') {
      answer(460, file);
      this.emit('failed', new AliyunIotError('CONFIG_INVALID_FILE', { reason: file }));
      return;
    }
    this.fetch(file).then(
      (content) => {
        answer(200);
        this.emit('pushed', { file, content, source: 'push' });
      },
      (err: unknown) => {
        const error =
          err instanceof AliyunIotError ? err : new AliyunIotError('CONFIG_DOWNLOAD_FAILED', { reason: String(err) });
        answer(500, error.message.slice(0, 100));
        this.emit('failed', error);
      },
    );
  }

  /** The file's bytes, checked against its size and sign, as text. */
  private async fetch(file: ConfigFile): Promise<string> {
    const sink = new BufferSink(MAX_CONFIG_BYTES);
    try {
      await downloadFile({ name: 'config', size: file.configSize, url: file.url, sign: file.sign }, sink, {
        tls: downloadTlsOf(this.connection.trust),
        digest: file.digest,
        retries: 2,
      });
    } catch (err) {
      // The download is OTA's; its failures are named for what was downloaded: a configuration.
      if (err instanceof AliyunIotError && err.code === 'OTA_VERIFY_FAILED')
        throw new AliyunIotError('CONFIG_VERIFY_FAILED', err.params);
      if (err instanceof AliyunIotError && err.code === 'OTA_DOWNLOAD_FAILED')
        throw new AliyunIotError('CONFIG_DOWNLOAD_FAILED', err.params);
      throw err;
    }
    return sink.bytes.toString('utf8');
  }
}

export const remoteConfigOf = perConnection((connection) => new RemoteConfigClient(connection));
