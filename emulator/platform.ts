// The platform's own side of the thing model: automatic replies to posts and NTP requests, and the
// cloud's downlink calls (property set, service invocation, RRPC) with their waits for the device.
// Posts of a product with a thing model are checked against it first (emulator/tsl.ts).
import type { EmulatorBroker } from './broker';
import type { DeviceRecord } from './registry';
import type { ThingModel } from './thing-model';
import { checkServiceReply, describeProblem, postedValue, refusePost } from './tsl';

export interface CloudReply {
  code: 'SUCCESS' | 'TIMEOUT' | 'OFFLINE';
  /** The device's reply: parsed Alink JSON for thing-model calls, text for RRPC. */
  reply?: unknown;
  /** RRPC: the reply's bytes, base64 (the RRpc OpenAPI's PayloadBase64Byte, PLATFORM.md §16.2). */
  replyBase64?: string;
  /** The reply's data breaks the service's outputData: said here and logged, the reply passed on. */
  tslWarning?: string;
}

/** The thing models the platform checks device data against (emulator/tsl.ts). */
export interface ThingModels {
  model(productKey: string): ThingModel | undefined;
  /** Where a device reply that breaks the TSL is reported. */
  log(line: string): void;
}

interface Waiter {
  resolve: (reply: CloudReply) => void;
  timer: NodeJS.Timeout;
}

export const RRPC_TIMEOUT_MIN_MS = 1000;
export const RRPC_TIMEOUT_MAX_MS = 8000;

function alink(payload: Buffer): { id?: unknown; params?: unknown; sys?: { ack?: unknown } } | undefined {
  try {
    const body: unknown = JSON.parse(payload.toString('utf8'));
    return body !== null && typeof body === 'object' && !Array.isArray(body) ? body : undefined;
  } catch {
    return undefined;
  }
}

function isAlinkRequest(body: ReturnType<typeof alink>): boolean {
  return (
    body !== undefined &&
    (typeof body.id === 'string' || typeof body.id === 'number') &&
    body.params !== null &&
    typeof body.params === 'object'
  );
}

/**
 * The reply envelope every SDK can parse (PLATFORM.md §10): the request's `id` echoed verbatim with
 * its JSON type (the Node SDK's `"5|exp-topic|..."`, numbers from OTA-style requests), or null when
 * the request had none, and always `code`, `data` and `message` (the C SDK drops a reply without
 * `data`, the Python SDK one without `message`).
 */
function replyTo(request: { id?: unknown } | undefined, code: number, message: string) {
  return { id: request?.id ?? null, code, data: {}, message, version: '1.0' };
}

/** An RRPC answer: the bytes as text and as base64 (they may be anything, PLATFORM.md §16.2). */
function rrpcReply(payload: Buffer): CloudReply {
  return { code: 'SUCCESS', reply: payload.toString('utf8'), replyBase64: payload.toString('base64') };
}

/** What the next post_reply does instead of succeeding: an error code, or no reply at all. */
export type PostReplyFault = { code: number; message?: string } | 'no-reply';

export class Platform {
  private nextId = 1;
  private readonly waiters = new Map<string, Waiter>();
  private readonly postReplyFaults: PostReplyFault[] = [];

  /** The next property or event post is answered this way (tests of the nodes' error handling). */
  injectPostReply(fault: PostReplyFault): void {
    this.postReplyFaults.push(fault);
  }

  constructor(
    private readonly broker: EmulatorBroker,
    private readonly models?: ThingModels,
  ) {}

  private base(device: DeviceRecord): string {
    return `/sys/${device.productKey}/${device.deviceName}`;
  }

  /** Called for every accepted uplink message. */
  onUplink(device: DeviceRecord, topic: string, payload: Buffer): void {
    // The `/ext/rrpc/` form: the reply comes on the request's own topic (PLATFORM.md §16.2).
    // DOC:90568 takes QoS 0 replies only; a QoS 1 reply is taken too (forgiving).
    if (topic.startsWith('/ext/rrpc/')) {
      this.settle(topic, rrpcReply(payload));
      return;
    }
    const base = this.base(device);
    const ntp = `/ext/ntp/${device.productKey}/${device.deviceName}/request`;
    if (topic === ntp) {
      this.answerNtp(device, payload);
      return;
    }
    if (!topic.startsWith(`${base}/`)) return;
    const rest = topic.slice(base.length + 1);
    if (/^thing\/event\/[^/]+\/post$/.test(rest)) {
      this.answerPost(device, topic, rest, payload);
      return;
    }
    const rrpc = /^rrpc\/response\/(\d+)$/.exec(rest);
    if (rrpc) {
      this.settle(`${base}/rrpc/${rrpc[1] ?? ''}`, rrpcReply(payload));
      return;
    }
    const service = /^thing\/service\/(property\/set|[^/]+)_reply$/.exec(rest)?.[1];
    if (service !== undefined) {
      const body = alink(payload);
      if (body && (typeof body.id === 'string' || typeof body.id === 'number')) {
        const warning = service === 'property/set' ? undefined : this.replyWarning(device, service, body);
        this.settle(`${base}/reply/${String(body.id)}`, { code: 'SUCCESS', reply: body, ...warning });
      }
    }
  }

  /**
   * A service reply whose data breaks the service's outputData. UNVERIFIED what the platform does;
   * the forgiving choice: the caller still gets the reply, with the problem beside it, and it is logged.
   */
  private replyWarning(device: DeviceRecord, service: string, reply: unknown): { tslWarning: string } | undefined {
    const model = this.models?.model(device.productKey);
    const found = model && checkServiceReply(model, service, reply);
    if (!found) return undefined;
    const tslWarning = `the reply data breaks the outputData of ${service}: ${describeProblem(found)}`;
    this.models?.log(`aliyun-iot-emulator: ${device.productKey}/${device.deviceName}: ${tslWarning} (passed on)`);
    return { tslWarning };
  }

  private answerPost(device: DeviceRecord, topic: string, rest: string, payload: Buffer): void {
    const body = alink(payload);
    const valid = isAlinkRequest(body);
    if (valid && body?.sys?.ack === 0) return;
    const tooMany = valid && Object.keys(body?.params as object).length > 200;
    // With a thing model, what breaks it is refused and not stored (emulator/tsl.ts).
    const model = valid && !tooMany ? this.models?.model(device.productKey) : undefined;
    const refused = model && body ? refusePost(model, rest, body) : undefined;
    if (valid && !refused && rest === 'thing/event/property/post') {
      for (const [name, value] of Object.entries(body?.params as Record<string, unknown>)) {
        const v = value as { value?: unknown } | null;
        // With a TSL, what was checked is stored (a struct may have a field named "value").
        if (model) device.properties[name] = postedValue(value);
        else device.properties[name] = v !== null && typeof v === 'object' && 'value' in v ? v.value : value;
      }
    }
    const fault = valid && !refused ? this.postReplyFaults.shift() : undefined;
    if (fault === 'no-reply') return;
    const [code, message] = !valid
      ? [460, 'request parameter error']
      : refused
        ? [refused.code, `tsl check failed: ${describeProblem(refused)}`]
        : fault
          ? [fault.code, fault.message ?? 'injected error']
          : tooMany
            ? [6106, 'too many properties']
            : [200, 'success'];
    void this.broker.publish(`${topic}_reply`, JSON.stringify(replyTo(body, code, message)), 0).catch(() => undefined);
  }

  private answerNtp(device: DeviceRecord, payload: Buffer): void {
    const serverRecvTime = Date.now();
    const body = alink(payload) as { deviceSendTime?: unknown } | undefined;
    const response = {
      deviceSendTime:
        typeof body?.deviceSendTime === 'string' || typeof body?.deviceSendTime === 'number'
          ? String(body.deviceSendTime)
          : undefined,
      serverRecvTime: String(serverRecvTime),
      serverSendTime: String(Date.now()),
    };
    const topic = `/ext/ntp/${device.productKey}/${device.deviceName}/response`;
    void this.broker.publish(topic, JSON.stringify(response), 0).catch(() => undefined);
  }

  private settle(key: string, reply: CloudReply): void {
    const waiter = this.waiters.get(key);
    if (!waiter) return;
    clearTimeout(waiter.timer);
    this.waiters.delete(key);
    waiter.resolve(reply);
  }

  private wait(key: string, timeoutMs: number): Promise<CloudReply> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settle(key, { code: 'TIMEOUT' }), timeoutMs);
      this.waiters.set(key, { resolve, timer });
    });
  }

  private id(): string {
    const id = this.nextId;
    this.nextId = id >= 4294967295 ? 1 : id + 1;
    return String(id);
  }

  async publishDown(topic: string, payload: Buffer | string, qos: 0 | 1): Promise<void> {
    await this.broker.publish(topic, payload, qos);
  }

  /** A thing-model call (property set or service); waits for the device's `_reply` when asked to. */
  async callThing(
    device: DeviceRecord,
    service: string,
    params: unknown,
    timeoutMs = 0,
  ): Promise<CloudReply & { id: string }> {
    const id = this.id();
    const method = service === 'property/set' ? 'thing.service.property.set' : `thing.service.${service}`;
    const topic = `${this.base(device)}/thing/service/${service}`;
    const request = JSON.stringify({ id, version: '1.0', params, method });
    if (timeoutMs <= 0) {
      await this.broker.publish(topic, request, 0);
      return { id, code: 'SUCCESS' };
    }
    if (!device.online) return { id, code: 'OFFLINE' };
    const reply = this.wait(`${this.base(device)}/reply/${id}`, timeoutMs);
    await this.broker.publish(topic, request, 0);
    return { id, ...(await reply) };
  }

  /**
   * Synchronous call: request on rrpc/request/<messageId>, the device answers within the timeout.
   * With `extTopic` (the device's own topic: `/sys/pk/dn/thing/service/x`, `/pk/dn/user/get`...), the
   * `/ext/rrpc/<messageId><extTopic>` form instead, answered on that same topic (PLATFORM.md §16.2).
   */
  async rrpc(
    device: DeviceRecord,
    payload: Buffer | string,
    timeoutMs: number,
    extTopic?: string,
  ): Promise<CloudReply & { messageId: string }> {
    const messageId = `${Date.now()}${String(this.nextId++).padStart(6, '0')}`;
    if (!device.online) return { messageId, code: 'OFFLINE' };
    const clamped = Math.min(Math.max(timeoutMs, RRPC_TIMEOUT_MIN_MS), RRPC_TIMEOUT_MAX_MS);
    const ext = extTopic === undefined ? undefined : `/ext/rrpc/${messageId}${extTopic}`;
    const reply = this.wait(ext ?? `${this.base(device)}/rrpc/${messageId}`, clamped);
    await this.broker.publish(ext ?? `${this.base(device)}/rrpc/request/${messageId}`, payload, 0);
    return { messageId, ...(await reply) };
  }

  /**
   * A synchronous service call: Alink JSON over RRPC, the device's Alink reply parsed. `ext`: the
   * `/ext/rrpc/<messageId>/sys/pk/dn/thing/service/<service>` form (PLATFORM.md §16.2).
   */
  async rrpcService(
    device: DeviceRecord,
    service: string,
    params: unknown,
    timeoutMs: number,
    ext = false,
  ): Promise<CloudReply & { messageId: string; id: string }> {
    const id = this.id();
    const request = JSON.stringify({ id, version: '1.0', params, method: `thing.service.${service}` });
    const extTopic = ext ? `${this.base(device)}/thing/service/${service}` : undefined;
    const answer = await this.rrpc(device, request, timeoutMs, extTopic);
    if (typeof answer.reply !== 'string') return { ...answer, id };
    let reply: unknown;
    try {
      reply = JSON.parse(answer.reply) as unknown;
    } catch {
      return { ...answer, id };
    }
    return { ...answer, id, reply, ...this.replyWarning(device, service, reply) };
  }

  close(): void {
    for (const key of [...this.waiters.keys()]) this.settle(key, { code: 'TIMEOUT' });
  }
}
