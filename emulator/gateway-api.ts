// The cloud side of gateways over HTTP: read and change a gateway's topology, and what a gateway
// reported with `thing/list/found` (disabling a sub-device: emulator/lifecycle.ts). Answers name
// devices, never secrets.
import type { ApiAnswer, CloudContext } from './cloud-api';
import type { DeviceRecord } from './registry';

type Body = Record<string, unknown>;

const bad = (message: string): ApiAnswer => ({ status: 400, body: { code: 'BAD_REQUEST', message } });
const pair = (d: DeviceRecord) => ({ productKey: d.productKey, deviceName: d.deviceName });

/** `subDevices: [{productKey, deviceName}]`, all known; a message saying what is wrong otherwise. */
function subDevicesOf(ctx: CloudContext, body: Body): DeviceRecord[] | string {
  const list = body.subDevices;
  if (!Array.isArray(list) || list.length === 0)
    return 'subDevices: a non-empty array of {productKey, deviceName} is required';
  const out: DeviceRecord[] = [];
  for (const item of list as unknown[]) {
    const { productKey, deviceName } = (item ?? {}) as Body;
    const device =
      typeof productKey === 'string' && typeof deviceName === 'string'
        ? ctx.registry.device(productKey, deviceName)
        : undefined;
    if (!device) return `unknown sub-device ${JSON.stringify(item)}`;
    out.push(device);
  }
  return out;
}

/**
 * `GET topology`, `POST topology/add` (`move: true` takes sub-devices from another gateway),
 * `POST topology/delete`, `GET found`. Undefined: not one of these.
 */
export function gatewayAction(
  ctx: CloudContext,
  device: DeviceRecord,
  action: readonly string[],
  method: string,
  body: Body,
): ApiAnswer | undefined {
  const [verb, arg] = action;
  const gws = ctx.gateways;
  if (verb !== 'topology' && verb !== 'found') return undefined;
  if (!ctx.registry.isGateway(device)) return { status: 409, body: { code: 'NOT_A_GATEWAY' } };
  if (method === 'GET' && arg === undefined) {
    const data = verb === 'found' ? (gws.found.get(device) ?? []) : gws.subDevices(device).map(pair);
    return { status: 200, body: data };
  }
  if (method !== 'POST' || verb !== 'topology' || (arg !== 'add' && arg !== 'delete'))
    return { status: 405, body: { code: 'METHOD_NOT_ALLOWED' } };
  const subs = subDevicesOf(ctx, body);
  if (typeof subs === 'string') return bad(subs);
  if (arg === 'add') {
    const taken = gws.cloudBind(device, subs, body.move === true);
    if (taken.length > 0)
      return {
        status: 409,
        body: { code: 'BOUND_ELSEWHERE', message: 'pass move: true to move them', subDevices: taken.map(pair) },
      };
  } else {
    const strangers = subs.filter((s) => gws.parentOf(s) !== device);
    if (strangers.length > 0)
      return { status: 409, body: { code: 'NOT_IN_TOPOLOGY', subDevices: strangers.map(pair) } };
    gws.cloudUnbind(device, subs);
  }
  return { status: 200, body: { code: 'SUCCESS', topology: gws.subDevices(device).map(pair) } };
}
