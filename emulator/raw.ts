// Raw (pass-through, 透传) thing-model data (PLATFORM.md §16.1, DOC:89301
// https://help.aliyun.com/document_detail/89301.htm): devices of a raw product send bytes of their own
// format on `/sys/{pk}/{dn}/thing/model/up_raw`, the platform answers bytes on `.../up_raw_reply`,
// sends bytes on `.../thing/model/down_raw`, and a device may answer those on `.../down_raw_reply`
// (or, as the SDKs do, on `up_raw`). On the platform the product's script turns bytes into Alink JSON
// and back; the emulator has no script, so:
// - its `up_raw_reply` is a stand-in (UNVERIFIED: the real bytes are whatever the script makes):
//   by default the UTF-8 bytes of the Alink reply the script would have encoded,
//   `{"code":200,"data":{},"id":"<n>","message":"success","version":"1.0","method":"thing.model.up_raw"}`;
//   `RawService.upRawReply` replaces it (a test's own "script"), returning undefined sends no reply;
// - the cloud sends what it is given:
//   POST /api/devices/{pk}/{dn}/raw  `{payloadBase64 | payload, timeoutMs?}` → bytes on down_raw (QoS 0).
//     Without timeoutMs: `{code: 'SUCCESS', online}`. With it (at most 8000 ms): the first of
//     `down_raw_reply` or `up_raw` after the call, `{code: 'SUCCESS'|'TIMEOUT'|'OFFLINE', replyTopic, replyBase64}`.
//     Raw bytes carry no id, so concurrent calls to one device are answered oldest first.
//   GET  /api/devices/{pk}/{dn}/raw  the device's recent up_raw and down_raw_reply messages, bytes in base64.
// The synchronous raw service over `/ext/rrpc/.../thing/model/down_raw` is `POST .../rrpc {raw: true}`
// (emulator/ext-rrpc.ts).
import { AlinkIds } from './alink';
import type { ApiAnswer, CloudContext } from './cloud-api';
import type { DeviceRecord } from './registry';

type Publish = (topic: string, payload: Buffer | string, qos: 0 | 1) => Promise<void>;

export interface RawMessage {
  topic: string;
  payloadBase64: string;
  qos: number;
  time: number;
}

export interface RawAnswer {
  code: 'SUCCESS' | 'TIMEOUT' | 'OFFLINE';
  /** The topic the answer came on: `.../thing/model/down_raw_reply` or `.../thing/model/up_raw`. */
  replyTopic?: string;
  replyBase64?: string;
}

/** The longest a raw call waits (as RRPC, DOC:69797). */
export const RAW_WAIT_MAX_MS = 8000;
/** Raw messages kept per device. */
const RAW_KEPT = 50;

interface Waiter {
  resolve: (answer: RawAnswer) => void;
  timer: NodeJS.Timeout;
}

export class RawService {
  private readonly ids = new AlinkIds();
  private readonly recent = new WeakMap<DeviceRecord, RawMessage[]>();
  private readonly waiters = new Map<DeviceRecord, Waiter[]>();

  /**
   * The product script's stand-in for `up_raw_reply`: the bytes to answer an `up_raw` with, undefined
   * for none. Replaceable (a test gives its own).
   */
  upRawReply: (device: DeviceRecord, payload: Buffer) => Buffer | string | undefined = () =>
    JSON.stringify({
      code: 200,
      data: {},
      id: this.ids.id(),
      message: 'success',
      version: '1.0',
      method: 'thing.model.up_raw',
    });

  constructor(private readonly publish: Publish) {}

  /** The device's recent `up_raw` and `down_raw_reply` messages, newest last. */
  recentOf(device: DeviceRecord): readonly RawMessage[] {
    return this.recent.get(device) ?? [];
  }

  /** Takes `thing/model/up_raw` and `down_raw_reply` of this device; false: neither. */
  handle(device: DeviceRecord, topic: string, payload: Buffer, qos: number): boolean {
    const base = `/sys/${device.productKey}/${device.deviceName}/thing/model/`;
    if (topic !== `${base}up_raw` && topic !== `${base}down_raw_reply`) return false;
    let kept = this.recent.get(device);
    if (!kept) this.recent.set(device, (kept = []));
    kept.push({ topic, payloadBase64: payload.toString('base64'), qos, time: Date.now() });
    if (kept.length > RAW_KEPT) kept.shift();
    this.settle(device, { code: 'SUCCESS', replyTopic: topic, replyBase64: payload.toString('base64') });
    if (topic === `${base}up_raw`) this.reply(device, topic, payload);
    return true;
  }

  private reply(device: DeviceRecord, topic: string, payload: Buffer): void {
    let bytes: Buffer | string | undefined;
    try {
      bytes = this.upRawReply(device, payload);
    } catch {
      // A failing stand-in script sends nothing, as a script error would (GO3P 26002).
      bytes = undefined;
    }
    // QoS 0, as the platform's other replies.
    if (bytes !== undefined) void this.publish(`${topic}_reply`, bytes, 0).catch(() => undefined);
  }

  private settle(device: DeviceRecord, answer: RawAnswer): void {
    const queue = this.waiters.get(device);
    const first = queue?.shift();
    if (queue?.length === 0) this.waiters.delete(device);
    if (!first) return;
    clearTimeout(first.timer);
    first.resolve(answer);
  }

  /** Sends bytes on `down_raw`; with `timeoutMs` > 0, waits for the device's answer. */
  async down(device: DeviceRecord, payload: Buffer, timeoutMs = 0): Promise<RawAnswer & { online?: boolean }> {
    const topic = `/sys/${device.productKey}/${device.deviceName}/thing/model/down_raw`;
    if (timeoutMs <= 0) {
      await this.publish(topic, payload, 0);
      return { code: 'SUCCESS', online: device.online };
    }
    if (!device.online) return { code: 'OFFLINE' };
    const answer = new Promise<RawAnswer>((resolve) => {
      let queue = this.waiters.get(device);
      if (!queue) this.waiters.set(device, (queue = []));
      const waiter: Waiter = {
        resolve,
        timer: setTimeout(
          () => {
            const list = this.waiters.get(device) ?? [];
            const at = list.indexOf(waiter);
            if (at >= 0) list.splice(at, 1);
            if (list.length === 0) this.waiters.delete(device);
            resolve({ code: 'TIMEOUT' });
          },
          Math.min(timeoutMs, RAW_WAIT_MAX_MS),
        ),
      };
      queue.push(waiter);
    });
    await this.publish(topic, payload, 0);
    return answer;
  }

  close(): void {
    for (const [device, queue] of [...this.waiters]) {
      this.waiters.delete(device);
      for (const waiter of queue) {
        clearTimeout(waiter.timer);
        waiter.resolve({ code: 'TIMEOUT' });
      }
    }
  }
}

function bytesOf(body: Record<string, unknown>): Buffer | undefined {
  if (typeof body.payloadBase64 === 'string') return Buffer.from(body.payloadBase64, 'base64');
  if (typeof body.payload === 'string') return Buffer.from(body.payload, 'utf8');
  return undefined;
}

/** `GET raw`, `POST raw`; undefined: not this route. */
export function rawAction(
  ctx: CloudContext,
  device: DeviceRecord,
  action: readonly string[],
  method: string,
  body: Record<string, unknown>,
): Promise<ApiAnswer> | undefined {
  if (action[0] !== 'raw' || action.length !== 1) return undefined;
  if (method === 'GET') return Promise.resolve({ status: 200, body: ctx.raw.recentOf(device) });
  if (method !== 'POST') return Promise.resolve({ status: 405, body: { code: 'METHOD_NOT_ALLOWED' } });
  const payload = bytesOf(body);
  const { timeoutMs } = body;
  const bad = (message: string) => Promise.resolve({ status: 400, body: { code: 'BAD_REQUEST', message } });
  if (payload === undefined) return bad('payloadBase64 (or payload, a string sent as UTF-8) is required');
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs)))
    return bad('timeoutMs must be a number of milliseconds');
  return ctx.raw.down(device, payload, timeoutMs ?? 0).then((answer) => ({ status: 200, body: answer }));
}
