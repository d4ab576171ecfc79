// The platform's data flow (PLATFORM.md §17.1): what devices do, turned into the messages a server-side
// subscription (emulator/amqp.ts) delivers, each with its data-flow topic. Only what the platform took
// in flows: a post the platform refuses (not Alink, over 200 properties, against the TSL) does not.
// A sub-device's traffic through its gateway is the sub-device's (the broker hands it over that way).
//
// Bodies. The status body follows the platform's documented example (DOC:73736,
// https://help.aliyun.com/knowledge_detail/73736.html). The others are the emulator's choice where no
// source gives the exact shape (UNVERIFIED):
// - property post `{iotId, requestId, productKey, deviceName, gmtCreate, deviceType, items: {Id: {value, time}}}`;
// - event post `{identifier, name?, type, iotId, requestId, productKey, deviceName, gmtCreate, value, time}`,
//   `name` and `type` from the TSL (without one: no name, type "info");
// - lifecycle `{action, iotId, productKey, deviceName, messageCreateTime}`: never a secret;
// - topology `{action: "add"|"remove", gwIotId, gwProductKey, gwDeviceName, devices: [{iotId, productKey,
//   deviceName}], messageCreateTime}` on the gateway's topic;
// - downlink reply `{gmtCreate, iotId, productKey, deviceName, requestId, code, message, topic, data}`,
//   `topic` the request's (property set or an asynchronous service);
// - offline: `offlineReasonCode` 427 kicked, 521 deleted, 522 disabled, 6401 topology deleted (the
//   codes PLATFORM.md §11 gives those causes), 0 otherwise; `offlineReasonMessage` the emulator's reason.
import { parseAlink, type AlinkBody } from './alink';
// The same IotId the OpenAPI answers with (QueryDeviceDetail), so a subscriber can match them.
import { iotIdOf } from './openapi-actions';
import type { DeviceRecord } from './registry';
import type { ThingModel } from './thing-model';
import { postedValue, refusePost } from './tsl';

export interface DataFlowMessage {
  topic: string;
  payload: Buffer;
  messageId: string;
  /** Milliseconds since the epoch, when the platform made the message. */
  generateTime: number;
  productKey: string;
  deviceName: string;
}

export type LifecycleAction = 'create' | 'delete' | 'enable' | 'disable';

export interface DataFlowDeps {
  model(productKey: string): ThingModel | undefined;
  /** Where each message goes (every consumer group, emulator/amqp.ts). */
  emit(message: DataFlowMessage): void;
  /** False while nobody could receive the messages: no work is done for them then. */
  wanted(): boolean;
}

/** The device category of a product without one (UNVERIFIED: the platform names the product's category). */
const DEVICE_TYPE = 'CustomCategory';
/** Properties in one post the platform takes (6106 above it, emulator/platform.ts). */
const MAX_PROPERTIES = 200;
const OFFLINE_CODES: Readonly<Record<string, number>> = {
  kicked: 427,
  deleted: 521,
  disabled: 522,
  'topology-deleted': 6401,
};

/** `2018-08-31 15:32:28.205`: the status body's local time, the platform's UTC+8. */
function beijingTime(ms: number): string {
  return new Date(ms + 8 * 3600_000).toISOString().replace('T', ' ').replace('Z', '');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The `time` a post gave (ms), else now. */
function timeOf(raw: unknown, now: number): number {
  return isObject(raw) && typeof raw.time === 'number' ? raw.time : now;
}

export class DataFlow {
  private sequence = 0;
  /** The address each device's last session came from: the offline message names it too. */
  private readonly addresses = new WeakMap<DeviceRecord, string>();

  constructor(private readonly deps: DataFlowDeps) {}

  private send(device: DeviceRecord, topic: string, body: Buffer | object, now = Date.now()): void {
    // 19 digits, as the platform's message IDs: the time, then a counter.
    this.sequence = (this.sequence + 1) % 1_000_000;
    this.deps.emit({
      topic,
      payload: Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body)),
      messageId: `${now}${String(this.sequence).padStart(6, '0')}`,
      generateTime: now,
      productKey: device.productKey,
      deviceName: device.deviceName,
    });
  }

  private head(device: DeviceRecord) {
    return { iotId: iotIdOf(device), productKey: device.productKey, deviceName: device.deviceName };
  }

  /** Every uplink the broker accepted, whoever handles it. */
  uplink(device: DeviceRecord, topic: string, payload: Buffer): void {
    if (!this.deps.wanted()) return;
    const { productKey: pk, deviceName: dn } = device;
    // Custom topics: the payload unchanged (PLATFORM.md §17.1).
    if (topic.startsWith(`/${pk}/${dn}/user/`)) return this.send(device, topic, payload);
    const sys = `/sys/${pk}/${dn}/`;
    if (!topic.startsWith(sys)) return;
    const rest = topic.slice(sys.length);
    const event = /^thing\/event\/([^/]+)\/post$/.exec(rest)?.[1];
    if (event !== undefined) return this.post(device, rest, event, payload);
    const service = /^thing\/service\/(property\/set|[^/]+)_reply$/.exec(rest)?.[1];
    if (service !== undefined) this.downlinkReply(device, `${sys}thing/service/${service}`, payload);
  }

  private post(device: DeviceRecord, rest: string, event: string, payload: Buffer): void {
    const body = parseAlink(payload);
    const params = body?.params;
    if (!body || (typeof body.id !== 'string' && typeof body.id !== 'number') || !isObject(params)) return;
    if (Object.keys(params).length > MAX_PROPERTIES) return;
    const model = this.deps.model(device.productKey);
    if (model && refusePost(model, rest, body)) return;
    const now = Date.now();
    const { productKey: pk, deviceName: dn } = device;
    if (event === 'property') {
      const items = Object.fromEntries(
        Object.entries(params).map(([id, raw]) => [id, { value: postedValue(raw), time: timeOf(raw, now) }]),
      );
      const converted = {
        iotId: iotIdOf(device),
        requestId: String(body.id),
        productKey: pk,
        deviceName: dn,
        gmtCreate: now,
        deviceType: DEVICE_TYPE,
        items,
      };
      return this.send(device, `/${pk}/${dn}/thing/event/property/post`, converted, now);
    }
    const converted = this.eventBody(device, body, event, model, now);
    this.send(device, `/${pk}/${dn}/thing/event/${event}/post`, converted, now);
  }

  private eventBody(
    device: DeviceRecord,
    body: AlinkBody,
    event: string,
    model: ThingModel | undefined,
    now: number,
  ): object {
    const params = body.params as Record<string, unknown>;
    // `params: {value: {...}, time}`; params without `value` are read as the outputs (as emulator/tsl.ts).
    const value = isObject(params.value)
      ? params.value
      : Object.fromEntries(Object.entries(params).filter(([k]) => k !== 'time'));
    const defined = model?.events.get(event);
    return {
      identifier: event,
      ...(defined && { name: defined.name }),
      type: defined?.type ?? 'info',
      iotId: iotIdOf(device),
      requestId: String(body.id),
      productKey: device.productKey,
      deviceName: device.deviceName,
      gmtCreate: now,
      value,
      time: timeOf(params, now),
    };
  }

  private downlinkReply(device: DeviceRecord, request: string, payload: Buffer): void {
    const body = parseAlink(payload);
    if (!body || (typeof body.id !== 'string' && typeof body.id !== 'number')) return;
    const now = Date.now();
    this.send(
      device,
      `/${device.productKey}/${device.deviceName}/thing/downlink/reply/message`,
      {
        gmtCreate: now,
        ...this.head(device),
        requestId: String(body.id),
        code: body.code,
        message: body.message,
        topic: request,
        data: body.data ?? {},
      },
      now,
    );
  }

  /** A session started (directly, or through a gateway whose address is `clientIp`). */
  online(device: DeviceRecord, clientIp: string | undefined): void {
    if (clientIp !== undefined) this.addresses.set(device, clientIp);
    this.status(device, 'online', clientIp, {});
  }

  /** A session ended; `reason` as the emulator records it (lastDisconnectReason). */
  offline(device: DeviceRecord, reason: string | undefined): void {
    const words = reason ?? 'connection-lost';
    this.status(device, 'offline', this.addresses.get(device), {
      offlineReasonCode: OFFLINE_CODES[words] ?? 0,
      offlineReasonMessage: words,
    });
  }

  private status(device: DeviceRecord, status: string, clientIp: string | undefined, extra: object): void {
    if (!this.deps.wanted()) return;
    const now = Date.now();
    const at = new Date(now).toISOString();
    this.send(
      device,
      `/as/mqtt/status/${device.productKey}/${device.deviceName}`,
      {
        status,
        ...this.head(device),
        time: beijingTime(now),
        utcTime: at,
        lastTime: beijingTime(now),
        utcLastTime: at,
        clientIp: clientIp ?? '',
        ...extra,
      },
      now,
    );
  }

  lifecycle(device: DeviceRecord, action: LifecycleAction): void {
    if (!this.deps.wanted()) return;
    const now = Date.now();
    const topic = `/${device.productKey}/${device.deviceName}/thing/lifecycle`;
    this.send(device, topic, { action, ...this.head(device), messageCreateTime: now }, now);
  }

  topology(gateway: DeviceRecord, action: 'add' | 'remove', subs: readonly DeviceRecord[]): void {
    if (!this.deps.wanted() || subs.length === 0) return;
    const now = Date.now();
    const gw = this.head(gateway);
    const body = {
      action,
      gwIotId: gw.iotId,
      gwProductKey: gw.productKey,
      gwDeviceName: gw.deviceName,
      devices: subs.map((sub) => this.head(sub)),
      messageCreateTime: now,
    };
    this.send(gateway, `/${gateway.productKey}/${gateway.deviceName}/thing/topo/lifecycle`, body, now);
  }
}
