// Disabling, enabling and deleting a device from the cloud (PLATFORM.md §16.3, DOC:89303
// https://help.aliyun.com/document_detail/89303.html):
//   POST /api/devices/{pk}/{dn}/disable | enable | delete   body `{timeoutMs?}` (the wait for the device's reply)
// The device is told on `/sys/{pk}/{dn}/thing/disable|enable|delete` `{id, version, params: {}, method}`
// and may answer on `..._reply` (any id type is taken). Then:
// - disable: its connection is closed and every CONNECT refused with CONNACK 5 (emulator/broker.ts);
//   a sub-device is logged out through its gateway with `/ext/error` 522 and refused at login with 522,
//   its gateway told `thing/topo/change` status 8 (§11, emulator/gateway.ts setDisabled);
// - enable: the refusal is lifted (status 2 to a sub-device's gateway). A disabled device is never
//   online, so `thing/enable` reaches a device only if it is online by chance (DOC:89303: a disabled
//   sub-device cannot receive it; the gateway learns it from topo/change);
// - delete: its connection is closed, it leaves its gateway's topology (status 1; a session through the
//   gateway ends with 6401) or, for a gateway, its sub-devices leave its topology; the device is removed
//   from the registry (404 from the API) and a CONNECT naming it gets CONNACK 5 (UNVERIFIED, §16.3: 4 or 5).
// A sub-device online through a gateway is told on its own pk/dn over the gateway's connection, as
// DOC:89303 describes ("子设备通过网关订阅该Topic获取消息"), before it is logged out.
import { AlinkIds, parseAlink } from './alink';
import type { ApiAnswer, CloudContext } from './cloud-api';
import type { EmulatorBroker } from './broker';
import type { Gateways } from './gateway';
import type { DeviceRecord, Registry } from './registry';
import { filterMatches } from './topics';

export type Notice = 'disable' | 'enable' | 'delete';

/** A device's `thing/{notice}_reply`, as received. */
export interface NoticeReply {
  notice: Notice;
  /** The reply's id, verbatim (string, number, or null when it had none). */
  id: unknown;
  /** The reply's code, verbatim; undefined when the reply was not Alink JSON. */
  code: unknown;
  /** The reply as text. */
  payload: string;
  time: number;
}

/** What became of the notice: sent to an online device, receivable (subscribed or `_ss=1`), answered. */
export interface NoticeOutcome {
  online: boolean;
  notified: boolean;
  replied: boolean;
  reply?: NoticeReply;
}

/** How long the HTTP call waits for the device's reply by default, and at most. */
export const NOTICE_WAIT_MS = 2000;
export const NOTICE_WAIT_MAX_MS = 8000;
/** Replies kept per device. */
const REPLIES_KEPT = 20;

export interface LifecycleDeps {
  registry: Registry;
  gateways: Gateways;
  broker: EmulatorBroker;
  /** What else goes with a deleted device (its shadow...). */
  forget: (device: DeviceRecord) => void;
  /** Told after each change, for the data flow's `thing/lifecycle` (emulator/dataflow.ts). */
  changed?: (device: DeviceRecord, notice: Notice) => void;
}

/** True when the connection receives the topic: a matching subscription, or `_ss=1` (system topics, §0.2). */
function receives(carrier: DeviceRecord, topic: string): boolean {
  return carrier.serverSubscribed === true || [...carrier.subscriptions].some((f) => filterMatches(f, topic));
}

export class Lifecycle {
  private readonly ids = new AlinkIds();
  private readonly waiters = new Map<string, Set<(reply: NoticeReply | undefined) => void>>();
  private readonly replies = new WeakMap<DeviceRecord, NoticeReply[]>();

  constructor(private readonly deps: LifecycleDeps) {}

  /** The device's replies to these notices, newest last (bounded). */
  repliesOf(device: DeviceRecord): readonly NoticeReply[] {
    return this.replies.get(device) ?? [];
  }

  /** Takes a device's `thing/disable|enable|delete_reply`; false: not one. */
  handle(device: DeviceRecord, topic: string, payload: Buffer): boolean {
    const base = `/sys/${device.productKey}/${device.deviceName}/thing/`;
    const notice = topic.startsWith(base)
      ? /^(disable|enable|delete)_reply$/.exec(topic.slice(base.length))?.[1]
      : undefined;
    if (notice === undefined) return false;
    const body = parseAlink(payload);
    const reply: NoticeReply = {
      notice: notice as Notice,
      id: body?.id ?? null,
      code: body?.code,
      payload: payload.toString('utf8'),
      time: Date.now(),
    };
    let kept = this.replies.get(device);
    if (!kept) this.replies.set(device, (kept = []));
    kept.push(reply);
    if (kept.length > REPLIES_KEPT) kept.shift();
    const waiting = this.waiters.get(topic);
    this.waiters.delete(topic);
    for (const resolve of waiting ?? []) resolve(reply);
    return true;
  }

  /** Ends every wait (the emulator closes): the calls answer as if the device had not replied. */
  close(): void {
    const waiting = [...this.waiters.values()];
    this.waiters.clear();
    for (const set of waiting) for (const done of [...set]) done(undefined);
  }

  private wait(topic: string, ms: number): Promise<NoticeReply | undefined> {
    return new Promise((resolve) => {
      let set = this.waiters.get(topic);
      if (!set) this.waiters.set(topic, (set = new Set()));
      const done = (reply: NoticeReply | undefined) => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0 && this.waiters.get(topic) === set) this.waiters.delete(topic);
        resolve(reply);
      };
      const timer = setTimeout(() => done(undefined), ms);
      set.add(done);
    });
  }

  /**
   * Publishes the notice to the connection that carries the device (its own, or its gateway's), at
   * QoS 0 as the platform's other Alink requests (UNVERIFIED: DOC:89303 names no QoS; a QoS 1 notice
   * kept for a disabled device that never comes back would serve nobody), and waits for the reply
   * when the connection can receive it.
   */
  private async notify(device: DeviceRecord, notice: Notice, waitMs: number): Promise<NoticeOutcome> {
    const carrier = device.online ? (this.deps.gateways.sessionOf(device) ?? device) : undefined;
    if (!carrier) return { online: false, notified: false, replied: false };
    const topic = `/sys/${device.productKey}/${device.deviceName}/thing/${notice}`;
    const notified = receives(carrier, topic);
    const request = JSON.stringify({ id: this.ids.id(), version: '1.0', params: {}, method: `thing.${notice}` });
    const reply = notified && waitMs > 0 ? this.wait(`${topic}_reply`, waitMs) : undefined;
    await this.deps.broker.publish(topic, request, 0).catch(() => undefined);
    const got = await reply;
    return { online: true, notified, replied: got !== undefined, ...(got && { reply: got }) };
  }

  async disable(device: DeviceRecord, waitMs = NOTICE_WAIT_MS): Promise<NoticeOutcome> {
    // Refused from now on, while the notice is out: the device cannot slip back in.
    device.disabled = true;
    const outcome = await this.notify(device, 'disable', waitMs);
    this.deps.gateways.setDisabled(device, true);
    this.deps.broker.disconnect(device, 'disabled');
    this.deps.registry.changed();
    this.deps.changed?.(device, 'disable');
    return outcome;
  }

  async enable(device: DeviceRecord, waitMs = NOTICE_WAIT_MS): Promise<NoticeOutcome> {
    this.deps.gateways.setDisabled(device, false);
    this.deps.registry.changed();
    this.deps.changed?.(device, 'enable');
    return this.notify(device, 'enable', waitMs);
  }

  async delete(device: DeviceRecord, waitMs = NOTICE_WAIT_MS): Promise<NoticeOutcome> {
    const { gateways, registry, broker } = this.deps;
    const outcome = await this.notify(device, 'delete', waitMs);
    broker.disconnect(device, 'deleted');
    const parent = gateways.parentOf(device);
    if (parent) gateways.cloudUnbind(parent, [device]);
    if (registry.isGateway(device)) {
      gateways.unbind(device, gateways.subDevices(device));
      gateways.found.delete(device);
    }
    this.deps.forget(device);
    registry.remove(device);
    this.deps.changed?.(device, 'delete');
    return outcome;
  }
}

function waitOf(body: Record<string, unknown>): number | string {
  const { timeoutMs } = body;
  if (timeoutMs === undefined) return NOTICE_WAIT_MS;
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0)
    return 'timeoutMs must be a number of milliseconds, 0 or more';
  return Math.min(timeoutMs, NOTICE_WAIT_MAX_MS);
}

/** `POST disable | enable | delete`; undefined: not one of these routes. */
export function lifecycleAction(
  ctx: CloudContext,
  device: DeviceRecord,
  action: readonly string[],
  method: string,
  body: Record<string, unknown>,
): Promise<ApiAnswer> | undefined {
  const [verb] = action;
  if ((verb !== 'disable' && verb !== 'enable' && verb !== 'delete') || action.length !== 1) return undefined;
  if (method !== 'POST') return Promise.resolve({ status: 405, body: { code: 'METHOD_NOT_ALLOWED' } });
  const waitMs = waitOf(body);
  if (typeof waitMs === 'string')
    return Promise.resolve({ status: 400, body: { code: 'BAD_REQUEST', message: waitMs } });
  return act(ctx.lifecycle, device, verb, waitMs);
}

async function act(lifecycle: Lifecycle, device: DeviceRecord, verb: Notice, waitMs: number): Promise<ApiAnswer> {
  const outcome = await lifecycle[verb](device, waitMs);
  const state = verb === 'delete' ? { deleted: true } : { disabled: verb === 'disable' };
  return { status: 200, body: { code: 'SUCCESS', ...state, ...outcome } };
}
