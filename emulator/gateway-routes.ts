// A gateway's own topics (PLATFORM.md §11): topology under `/sys/{gwPK}/{gwDN}/thing/...`,
// sessions under `/ext/session/{gwPK}/{gwDN}/combine/...`, and what the cloud tells the gateway on
// `/ext/error/{gwPK}/{gwDN}` and `thing/topo/change`. Dispatch is on the topic: `method` is optional
// (the Link SDK and the Python SDK send none, the Node SDK sends ""). Login and logout "only support
// QoS 0" (PLATFORM.md §11); a QoS 1 request is answered all the same (forgiving: the rules do not say it fails).
import type { Gateways, GatewayNotices } from './gateway';
import {
  batchLogin,
  batchLogout,
  listFound,
  login,
  logout,
  subRegister,
  topoAdd,
  topoDelete,
  topoGet,
  type Answer,
} from './gateway-requests';
import type { DeviceRecord } from './registry';

type Handler = (gws: Gateways, gateway: DeviceRecord, params: unknown) => Answer;

const SYS: Readonly<Record<string, Handler>> = {
  'thing/topo/add': topoAdd,
  'thing/topo/delete': topoDelete,
  'thing/topo/get': topoGet,
  'thing/sub/register': subRegister,
  'thing/list/found': listFound,
};

const SESSION: Readonly<Record<string, Handler>> = {
  'combine/login': login,
  'combine/batch_login': batchLogin,
  'combine/logout': logout,
  'combine/batch_logout': batchLogout,
};

/**
 * The code a direct (non-gateway) device gets on these topics. The platform has no such topics for
 * a direct device; the rules name no code, so 6203 (topic parse failure, PLATFORM.md §11) is the emulator's choice.
 */
export const NOT_A_GATEWAY = 6203;

type Publish = (topic: string, payload: string) => void;

function parse(payload: Buffer): { id?: unknown; params?: unknown } | undefined {
  try {
    const body: unknown = JSON.parse(payload.toString('utf8'));
    return body !== null && typeof body === 'object' && !Array.isArray(body) ? body : undefined;
  } catch {
    return undefined;
  }
}

/** The request's id verbatim with its JSON type (§0.2), null when it had none. */
function idOf(body: { id?: unknown } | undefined): unknown {
  return typeof body?.id === 'string' || typeof body?.id === 'number' ? body.id : null;
}

export class GatewayRoutes implements GatewayNotices {
  private nextId = 1;

  constructor(
    private readonly gws: Gateways,
    private readonly publish: Publish,
  ) {}

  /** Answers a gateway topic; false when the topic is not one (the thing model handles it). */
  handle(device: DeviceRecord, topic: string, payload: Buffer): boolean {
    const sys = `/sys/${device.productKey}/${device.deviceName}/`;
    const session = `/ext/session/${device.productKey}/${device.deviceName}/`;
    const handler = topic.startsWith(sys)
      ? SYS[topic.slice(sys.length)]
      : topic.startsWith(session)
        ? SESSION[topic.slice(session.length)]
        : undefined;
    // The cloud's notices need no answer back; a gateway that replies anyway is heard and ignored.
    if (topic === `${sys}thing/topo/change_reply` || topic === `${sys}thing/topo/add/notify_reply`) return true;
    if (!handler) return false;
    const body = parse(payload);
    // Every gateway request is answered, `sys.ack: 0` included: the documented topo/add example
    // carries ack 0 and shows a reply, and an unwanted reply harms nobody (forgiving choice).
    const answer: Answer = !body
      ? { code: 460, message: 'request parameter error', data: {} }
      : !this.gws.registry.isGateway(device)
        ? { code: NOT_A_GATEWAY, message: 'not a gateway: the product node type is not gateway', data: {} }
        : handler(this.gws, device, body.params);
    this.publish(
      `${topic}_reply`,
      JSON.stringify({ id: idOf(body), code: answer.code, data: answer.data, message: answer.message }),
    );
    return true;
  }

  /** A sub-device message the gateway sent without a session: dropped, and 520 told (PLATFORM.md §11). */
  refused(gateway: DeviceRecord, sub: { productKey: string; deviceName: string }, payload: Buffer): void {
    this.gws.counters.refusedTraffic++;
    this.send(gateway, 520, sub, 'sub-device session does not exist', idOf(parse(payload)) ?? this.id());
  }

  extError(gateway: DeviceRecord, code: number, sub: DeviceRecord, message: string): void {
    this.send(gateway, code, sub, message, this.id());
  }

  private send(
    gateway: DeviceRecord,
    code: number,
    sub: { productKey: string; deviceName: string },
    message: string,
    id: unknown,
  ): void {
    const data = { productKey: sub.productKey, deviceName: sub.deviceName };
    this.publish(`/ext/error/${gateway.productKey}/${gateway.deviceName}`, JSON.stringify({ id, code, data, message }));
  }

  topoChange(gateway: DeviceRecord, status: 0 | 1 | 2 | 8, subs: readonly DeviceRecord[]): void {
    const subList = subs.map((s) => ({ productKey: s.productKey, deviceName: s.deviceName }));
    this.publish(
      `/sys/${gateway.productKey}/${gateway.deviceName}/thing/topo/change`,
      JSON.stringify({ id: this.id(), version: '1.0', params: { status, subList }, method: 'thing.topo.change' }),
    );
  }

  /** Set by the emulator: closes a sub-device's direct connection. */
  endDirect: (sub: DeviceRecord) => void = () => undefined;

  private id(): string {
    const id = this.nextId;
    this.nextId = id >= 4294967295 ? 1 : id + 1;
    return String(id);
  }
}
