// What the platform answers to a gateway's requests (PLATFORM.md §11), as `code`,
// `data` and `message`. Every request is all or nothing: on failure `data` lists the sub-devices
// that failed (documented for batch login, PLATFORM.md §11; applied to the others too, the forgiving choice).
import { randomBytes } from 'node:crypto';
import type { Gateways } from './gateway';
import { platformSign, sameHex } from './hmac';
import type { DeviceRecord } from './registry';

export interface Answer {
  code: number;
  message: string;
  data: unknown;
}

/** Sub-devices per topo/add, topo/delete and sub/register request (PLATFORM.md §11). */
export const PER_REQUEST = 30;
/** Sub-devices per batch login or logout (PLATFORM.md §11). */
export const PER_BATCH = 50;

type Entry = Record<string, unknown>;
interface Pair {
  productKey: string;
  deviceName: string;
}

const ok = (data: unknown): Answer => ({ code: 200, message: 'success', data });
const fail = (code: number, message: string, data: unknown = {}): Answer => ({ code, message, data });
const PARAMS = fail(460, 'request parameter error');

const isEntry = (v: unknown): v is Entry => v !== null && typeof v === 'object' && !Array.isArray(v);
const pair = (d: Pair): Pair => ({ productKey: d.productKey, deviceName: d.deviceName });
const text = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;

/** The entries of an array of `{productKey, deviceName, ...}`, or undefined when malformed or over `max`. */
function entries(params: unknown, max: number): Entry[] | undefined {
  if (!Array.isArray(params) || params.length === 0 || params.length > max) return undefined;
  const list = params as unknown[];
  return list.every((e) => isEntry(e) && typeof e.productKey === 'string' && typeof e.deviceName === 'string')
    ? (list as Entry[])
    : undefined;
}

/**
 * The sub-device signature (PLATFORM.md §11): hex HMAC over "clientId..deviceName..productKey..timestamp.."
 * with the sub-device's secret. Method name and hex in any case, key `signmethod` or `signMethod`,
 * timestamp string or number and never checked for freshness (the C SDK signs its uptime).
 */
export function subDeviceSignOk(sub: DeviceRecord, entry: Entry, fallbackMethod?: unknown): boolean {
  const method = text(entry.signMethod) ?? text(entry.signmethod) ?? text(fallbackMethod);
  const clientId = text(entry.clientId);
  const timestamp = text(entry.timestamp);
  const sign = text(entry.sign);
  if (!sub.deviceSecret || !method || clientId === undefined || timestamp === undefined || !sign) return false;
  const expected = platformSign(method, sub.deviceSecret, {
    clientId,
    deviceName: sub.deviceName,
    productKey: sub.productKey,
    timestamp,
  });
  return expected !== undefined && sameHex(expected, sign);
}

/** Checks every entry; the first failing code wins and every failing device is listed. */
function checkAll(
  list: readonly Entry[],
  check: (entry: Entry, device: DeviceRecord | undefined) => [number, string] | undefined,
  gws: Gateways,
): { devices: DeviceRecord[]; failure?: Answer } {
  const devices: DeviceRecord[] = [];
  const failed: Pair[] = [];
  let first: [number, string] | undefined;
  for (const entry of list) {
    const device = gws.registry.device(entry.productKey as string, entry.deviceName as string);
    const problem = check(entry, device);
    if (problem) {
      first ??= problem;
      failed.push(pair(entry as unknown as Pair));
    } else if (device) devices.push(device);
  }
  return first ? { devices, failure: fail(first[0], first[1], failed) } : { devices };
}

export function topoAdd(gws: Gateways, gateway: DeviceRecord, params: unknown): Answer {
  const list = entries(params, PER_REQUEST);
  if (!list) return PARAMS;
  const { devices, failure } = checkAll(
    list,
    (entry, sub) => {
      if (sub === gateway) return [6402, 'topo relation cannot add by self'];
      if (!sub) return [6100, 'device not found'];
      if (sub.disabled) return [6204, 'device disabled'];
      if (!subDeviceSignOk(sub, entry)) return [401, 'request auth error'];
      const parent = gws.parentOf(sub);
      if (parent && parent !== gateway) return [6619, 'sub-device is bound to another gateway'];
      return undefined;
    },
    gws,
  );
  if (failure) return failure;
  const current = new Set(gws.subDevices(gateway));
  const added = [...new Set(devices)].filter((d) => !current.has(d));
  if (current.size + added.length > gws.limits.topology)
    return fail(
      6400,
      'too many sub-devices under the gateway',
      list.map((e) => pair(e as unknown as Pair)),
    );
  gws.bind(gateway, added);
  return ok(devices.map(pair));
}

export function topoDelete(gws: Gateways, gateway: DeviceRecord, params: unknown): Answer {
  const list = entries(params, PER_REQUEST);
  if (!list) return PARAMS;
  const { devices, failure } = checkAll(
    list,
    (_entry, sub) => {
      if (!sub) return [6100, 'device not found'];
      if (gws.parentOf(sub) !== gateway) return [6401, 'no topology relation between the gateway and the sub-device'];
      return undefined;
    },
    gws,
  );
  if (failure) return failure;
  gws.unbind(gateway, devices);
  return ok(devices.map(pair));
}

/** `params` may be `{}`, the string `"{}"` (Link SDK 4.x) or absent: nothing in it is needed. */
export function topoGet(gws: Gateways, gateway: DeviceRecord): Answer {
  return ok(gws.subDevices(gateway).map(pair));
}

function loginChecks(
  gws: Gateways,
  gateway: DeviceRecord,
  list: readonly Entry[],
  signMethod?: unknown,
): Answer | DeviceRecord[] {
  if (!gws.admitLogins(gateway, list.length))
    return fail(429, 'rate limit, too many subDeviceOnline msg in one second');
  const { devices, failure } = checkAll(
    list,
    (entry, sub) => {
      if (!sub) return [6100, 'device not found'];
      if (sub.disabled) return [522, 'sub-device disabled'];
      if (gws.parentOf(sub) !== gateway) return [6401, 'no topology relation between the gateway and the sub-device'];
      if (!subDeviceSignOk(sub, entry, signMethod)) return [6287, 'sub-device password or sign error'];
      return undefined;
    },
    gws,
  );
  if (failure) return failure;
  const fresh = new Set(devices.filter((d) => gws.sessionOf(d) !== gateway));
  if (gws.onlineCount(gateway) + fresh.size > gws.limits.online)
    return fail(428, 'too many sub-devices online under the gateway', devices.map(pair));
  return devices;
}

/** `combine/login`: params is one signed entry; data names the sub-device (the C SDK needs it). */
export function login(gws: Gateways, gateway: DeviceRecord, params: unknown): Answer {
  if (!isEntry(params)) return PARAMS;
  const list = entries([params], 1);
  if (!list) return PARAMS;
  const checked = loginChecks(gws, gateway, list);
  if (!Array.isArray(checked)) return { ...checked, data: isEntry(params) ? pair(params as unknown as Pair) : {} };
  gws.login(gateway, checked);
  return ok(pair(list[0] as unknown as Pair));
}

/** `combine/batch_login`: `{signMethod, deviceList:[...]}`, at most 50, all or nothing. */
export function batchLogin(gws: Gateways, gateway: DeviceRecord, params: unknown): Answer {
  if (!isEntry(params)) return PARAMS;
  const list = entries(params.deviceList, PER_BATCH);
  if (!list) return PARAMS;
  const checked = loginChecks(gws, gateway, list, params.signMethod ?? params.signmethod);
  if (!Array.isArray(checked)) return checked;
  gws.login(gateway, checked);
  return ok(checked.map(pair));
}

function logoutAll(gws: Gateways, gateway: DeviceRecord, list: readonly Entry[]): Answer | DeviceRecord[] {
  const { devices, failure } = checkAll(
    list,
    (_entry, sub) => (sub && gws.sessionOf(sub) === gateway ? undefined : [520, 'sub-device session does not exist']),
    gws,
  );
  if (failure) return failure;
  gws.logout(devices);
  return devices;
}

/** `combine/logout`: params is one `{productKey, deviceName}`. */
export function logout(gws: Gateways, gateway: DeviceRecord, params: unknown): Answer {
  const list = entries([params], 1);
  if (!list) return PARAMS;
  const done = logoutAll(gws, gateway, list);
  return Array.isArray(done)
    ? ok(pair(list[0] as unknown as Pair))
    : { ...done, data: pair(list[0] as unknown as Pair) };
}

/** `combine/batch_logout`: params is an array (PLATFORM.md §11), at most 50, all or nothing. */
export function batchLogout(gws: Gateways, gateway: DeviceRecord, params: unknown): Answer {
  const list = entries(params, PER_BATCH);
  if (!list) return PARAMS;
  const done = logoutAll(gws, gateway, list);
  return Array.isArray(done) ? ok(done.map(pair)) : done;
}

/**
 * `thing/sub/register` (PLATFORM.md §11): pre-registered sub-devices of a product with dynamic registration
 * get their secret once; the device then counts as activated, and asking again gets 6289.
 */
export function subRegister(gws: Gateways, gateway: DeviceRecord, params: unknown): Answer {
  const list = entries(params, PER_REQUEST);
  if (!list) return PARAMS;
  const { devices, failure } = checkAll(
    list,
    (entry, sub) => {
      if (sub === gateway) return [6402, 'topo relation cannot add by self'];
      if (!sub) return [6100, 'device not found'];
      if (!gws.registry.product(sub.productKey)?.productSecret)
        return [6288, 'dynamic registration is not enabled for this product'];
      const parent = gws.parentOf(sub);
      if (parent && parent !== gateway) return [6619, 'sub-device is bound to another gateway'];
      if (sub.activated || sub.deviceSecret !== undefined) return [6289, 'device is already activated'];
      return undefined;
    },
    gws,
  );
  if (failure) return failure;
  const data = devices.map((sub) => {
    sub.deviceSecret = randomBytes(16).toString('hex');
    sub.activated = true;
    sub.counters.registrations++;
    return { iotId: randomBytes(10).toString('hex'), ...pair(sub), deviceSecret: sub.deviceSecret };
  });
  gws.registry.changed();
  return ok(data);
}

/** `thing/list/found` (PLATFORM.md §11): recorded for the cloud API, answered 200. */
export function listFound(gws: Gateways, gateway: DeviceRecord, params: unknown): Answer {
  const list = entries(params, Number.MAX_SAFE_INTEGER);
  if (!list) return PARAMS;
  const found = gws.found.get(gateway) ?? [];
  found.push(...list.map((e) => pair(e as unknown as Pair)));
  gws.found.set(gateway, found.slice(-200));
  return ok({});
}
