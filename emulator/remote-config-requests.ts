// The platform's side of remote configuration over MQTT (PLATFORM.md §15.1, DOC:89308):
// - `/sys/{pk}/{dn}/thing/config/get` → `.../config/get_reply`, the file's description under `data`;
// - `/sys/{pk}/{dn}/thing/config/push` (cloud → device), the same description under `params` (§8 item 8);
// - `/sys/{pk}/{dn}/thing/config/push_reply`, recorded; C3's failure reply is not JSON (it lacks its
//   braces) and must not upset anything.
// A gateway speaks for its logged-in sub-devices with their pk/dn, as for every `/sys/` topic.
import type { FileServer } from './files';
import type { DeviceRecord, Registry } from './registry';
import type { ConfigPushReply, ProductConfig, RemoteConfigs } from './remote-config';

/** §5.1: the configuration URL "is valid for 30 minutes". */
export const CONFIG_URL_LIFETIME_MS = 30 * 60 * 1000;
/** A URL with less than this left is signed again before it goes out. */
const URL_RENEW_BEFORE_MS = 10 * 60 * 1000;

/** `get_reply` codes (DOC:89308 error table, via GO3P `infra/code.go`). */
export const CONFIG_CODES = { ok: 200, badRequest: 460, notFound: 6710 } as const;

type Publish = (topic: string, payload: string, qos: 0 | 1) => Promise<void>;

export interface RemoteConfigOptions {
  registry: Registry;
  files: FileServer;
  publish: Publish;
  log: (line: string) => void;
}

/** The push ids the platform sent, per device, so a reply can be matched to its push. */
export interface ConfigPushSent {
  deviceName: string;
  id: string;
  configId: string;
  time: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

const idOf = (body: unknown): unknown =>
  isObject(body) && (typeof body.id === 'string' || typeof body.id === 'number') ? body.id : null;

export class RemoteConfigService {
  /** Pushes sent, newest last (bounded), per product. */
  private readonly sent = new Map<string, ConfigPushSent[]>();
  private readonly urls = new WeakMap<ProductConfig, string>();
  private nextId = Date.now();
  readonly counters = { gets: 0, pushes: 0, replies: 0, malformed: 0 };

  constructor(
    /** The products' configurations and the push replies (emulator/remote-config.ts). */
    readonly configs: RemoteConfigs,
    private readonly opts: RemoteConfigOptions,
  ) {}

  /**
   * Stores a new configuration and pushes it to every online device of the product (a device
   * offline now gets nothing and asks with `config/get` later, DOC:84891). Answers who was pushed to.
   */
  async update(productKey: string, content: Buffer): Promise<{ config: ProductConfig; pushedTo: string[] }> {
    const config = this.configs.set(productKey, content);
    this.urls.set(
      config,
      this.opts.files.offer(config.content, { name: `${config.configId}.json`, expiresMs: CONFIG_URL_LIFETIME_MS }),
    );
    const online = this.opts.registry.list().filter((d) => d.productKey === productKey && d.online);
    await Promise.all(online.map((device) => this.push(device, config)));
    return { config, pushedTo: online.map((d) => d.deviceName) };
  }

  /** The file's description with a URL valid for a while yet: `data` of get_reply, `params` of push. */
  describe(config: ProductConfig): Record<string, unknown> {
    return {
      configId: config.configId,
      configSize: config.configSize,
      sign: config.sign,
      signMethod: config.signMethod,
      url: this.url(config),
      getType: config.getType,
    };
  }

  /** Pushes sent for the product, newest last. */
  pushes(productKey: string): readonly ConfigPushSent[] {
    return this.sent.get(productKey) ?? [];
  }

  /** Handles a remote-configuration topic; false: not one. */
  handle(device: DeviceRecord, topic: string, payload: Buffer, qos: number): boolean {
    const base = `/sys/${device.productKey}/${device.deviceName}/thing/config/`;
    if (topic !== `${base}get` && topic !== `${base}push_reply`) return false;
    try {
      if (topic === `${base}get`) this.onGet(device, topic, payload, qos);
      else this.onPushReply(device, payload);
    } catch (err) {
      // Nothing a device sends may throw into the broker.
      this.counters.malformed++;
      const why = err instanceof Error ? err.message : String(err);
      this.opts.log(
        `aliyun-iot-emulator: ${device.productKey}/${device.deviceName}: ignored a message on ${topic}: ${why}`,
      );
    }
    return true;
  }

  /**
   * The push: `{id, version:"1.0", method:"thing.config.push", params:{…}}` (§5.1; the `method`
   * literal follows the doc's naming and is UNVERIFIED). QoS 1 (UNVERIFIED: no source gives the
   * platform's; only online devices are pushed to, so nothing is queued for an offline one).
   */
  private async push(device: DeviceRecord, config: ProductConfig): Promise<void> {
    const id = String(++this.nextId);
    const message = { id, version: '1.0', method: 'thing.config.push', params: this.describe(config) };
    const list = this.sent.get(device.productKey) ?? [];
    list.push({ deviceName: device.deviceName, id, configId: config.configId, time: Date.now() });
    if (list.length > 100) list.shift();
    this.sent.set(device.productKey, list);
    this.counters.pushes++;
    const topic = `/sys/${device.productKey}/${device.deviceName}/thing/config/push`;
    await this.opts.publish(topic, JSON.stringify(message), 1).catch(() => undefined);
  }

  /** The URL of the configuration, signed again when it has less than 10 minutes left. */
  private url(config: ProductConfig): string {
    const current = this.urls.get(config) ?? '';
    const left = current === '' ? 0 : Number(new URL(current).searchParams.get('Expires')) * 1000 - Date.now();
    if (left >= URL_RENEW_BEFORE_MS) return current;
    const files = this.opts.files;
    const renewed =
      files.renew(current, CONFIG_URL_LIFETIME_MS) ??
      files.offer(config.content, { name: `${config.configId}.json`, expiresMs: CONFIG_URL_LIFETIME_MS });
    this.urls.set(config, renewed);
    return renewed;
  }

  /**
   * `{id, params:{configScope:"product", getType:"file"}}` → get_reply
   * `{id, code, data, message, version:"1.0", method:"thing.config.get"}` (the reply NODE quotes from
   * DOC:89308 names the method). Answered even with `sys.ack:0`: the doc's own request example carries
   * it, yet asking for the configuration means wanting the answer. Missing scope or type is taken as
   * "product"/"file" (forgiving); other values get 460.
   */
  private onGet(device: DeviceRecord, topic: string, payload: Buffer, qos: number): void {
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      body = undefined;
    }
    this.counters.gets++;
    const params = isObject(body) ? (body.params ?? {}) : undefined;
    const config = this.configs.current(device.productKey);
    let code: number;
    let data: Record<string, unknown> = {};
    let message: string;
    if (!isObject(params) || (params.configScope ?? 'product') !== 'product' || (params.getType ?? 'file') !== 'file') {
      [code, message] = [CONFIG_CODES.badRequest, 'request parameter error'];
    } else if (!config) {
      [code, message] = [CONFIG_CODES.notFound, 'no configuration found for this product'];
    } else {
      [code, message, data] = [CONFIG_CODES.ok, 'success', this.describe(config)];
    }
    const reply = { id: idOf(body), code, data, message, version: '1.0', method: 'thing.config.get' };
    void this.opts.publish(`${topic}_reply`, JSON.stringify(reply), qos === 1 ? 1 : 0).catch(() => undefined);
  }

  /** Records the device's answer; C3's braceless failure reply is read as `{…}` when it can be, kept raw otherwise. */
  private onPushReply(device: DeviceRecord, payload: Buffer): void {
    const text = payload.toString('utf8');
    const base = { productKey: device.productKey, deviceName: device.deviceName, time: Date.now() };
    let reply: ConfigPushReply;
    try {
      const body: unknown = JSON.parse(text);
      if (!isObject(body)) throw new Error('not an object');
      reply = { ...base, id: idOf(body), code: body.code ?? null };
    } catch {
      this.counters.malformed++;
      let braced: unknown;
      try {
        braced = JSON.parse(`{${text}}`);
      } catch {
        braced = undefined;
      }
      const code = isObject(braced) ? (braced.code ?? null) : null;
      reply = { ...base, id: idOf(braced), code, malformed: true, raw: text.slice(0, 256) };
      this.opts.log(
        `aliyun-iot-emulator: ${device.productKey}/${device.deviceName}: config push_reply is not JSON (kept as sent)`,
      );
    }
    this.counters.replies++;
    this.configs.recordReply(reply);
  }
}
