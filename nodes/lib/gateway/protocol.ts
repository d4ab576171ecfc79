// The gateway's side of the platform's sub-device protocol (PLATFORM.md §11): topics, the
// sub-device signature, requests split to the platform's per-request limits, and what each answer
// or `/ext/error` code means for a sub-device. Pure: the gateway session (issue 15) drives it.
import { request, type AlinkRequest, type DeviceRef } from '../alink';
import { hmacHex, type SignMethod } from '../sign';
import { parseJsonObject } from '../payload';

/** Per request: topo/add, topo/delete and sub/register take 30, batch login and logout 50 (PLATFORM.md §11). */
export const TOPO_BATCH = 30;
export const LOGIN_BATCH = 50;
export const REGISTER_BATCH = 30;
/** Sub-device logins per second one gateway may proxy (PLATFORM.md §11). */
export const LOGINS_PER_SECOND = 200;
/** Sub-devices in a gateway's topology, and online through it at once (PLATFORM.md §11). */
export const MAX_SUBDEVICES = 2000;

export interface SubDevice extends DeviceRef {
  deviceSecret: string;
}

const sys = (gw: DeviceRef) => `/sys/${gw.productKey}/${gw.deviceName}/thing`;
const session = (gw: DeviceRef) => `/ext/session/${gw.productKey}/${gw.deviceName}/combine`;

/** The gateway's own topics; replies are the request topic + `_reply`. Login topics take QoS 0 only. */
export const gatewayTopics = {
  topoAdd: (gw: DeviceRef) => `${sys(gw)}/topo/add`,
  topoDelete: (gw: DeviceRef) => `${sys(gw)}/topo/delete`,
  topoGet: (gw: DeviceRef) => `${sys(gw)}/topo/get`,
  topoChange: (gw: DeviceRef) => `${sys(gw)}/topo/change`,
  topoAddNotify: (gw: DeviceRef) => `${sys(gw)}/topo/add/notify`,
  listFound: (gw: DeviceRef) => `${sys(gw)}/list/found`,
  subRegister: (gw: DeviceRef) => `${sys(gw)}/sub/register`,
  batchLogin: (gw: DeviceRef) => `${session(gw)}/batch_login`,
  batchLogout: (gw: DeviceRef) => `${session(gw)}/batch_logout`,
  /** `/ext/error/{gwPK}/{gwDN}`: no trailing segment (PLATFORM.md §11). */
  error: (gw: DeviceRef) => `/ext/error/${gw.productKey}/${gw.deviceName}`,
};

export const replyTopic = (requestTopic: string): string => `${requestTopic}_reply`;

export interface SignedSubDevice extends DeviceRef {
  clientId: string;
  timestamp: string;
  sign: string;
}

/**
 * The signature topo/add and logins carry: HMAC, keyed by the sub-device's own secret, of
 * `clientId{clientId}deviceName{dn}productKey{pk}timestamp{ts}` (PLATFORM.md §11). The platform does not check
 * the timestamp's freshness; the clientId is signed verbatim (`pk&dn` as the docs suggest).
 */
export function signSubDevice(sub: SubDevice, signmethod: SignMethod, timestamp: number): SignedSubDevice {
  const { productKey, deviceName } = sub;
  const clientId = `${productKey}&${deviceName}`;
  const ts = String(timestamp);
  const content = `clientId${clientId}deviceName${deviceName}productKey${productKey}timestamp${ts}`;
  return { productKey, deviceName, clientId, timestamp: ts, sign: hmacHex(signmethod, sub.deviceSecret, content) };
}

/** `list` in consecutive slices of at most `size`. */
export function chunks<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** topo/add requests, 30 sub-devices each, each signed with its own secret. */
export function topoAddRequests(
  subs: readonly SubDevice[],
  signmethod: SignMethod,
  now: number,
  nextId: () => string,
): AlinkRequest[] {
  return chunks(subs, TOPO_BATCH).map((slice) =>
    request(
      nextId(),
      'thing.topo.add',
      slice.map((sub) => ({ ...signSubDevice(sub, signmethod, now), signmethod })),
      true,
    ),
  );
}

export function topoDeleteRequests(subs: readonly DeviceRef[], nextId: () => string): AlinkRequest[] {
  return chunks(subs, TOPO_BATCH).map((slice) =>
    request(
      nextId(),
      'thing.topo.delete',
      slice.map(({ productKey, deviceName }) => ({ productKey, deviceName })),
      true,
    ),
  );
}

/**
 * batch_login requests, 50 sub-devices each (all or nothing per request). `cleanSession`
 * is the string the platform expects: "false" keeps the sub-device's queued QoS 1 messages.
 */
export function batchLoginRequests(
  subs: readonly SubDevice[],
  signmethod: SignMethod,
  cleanSession: boolean,
  now: number,
  nextId: () => string,
): AlinkRequest[] {
  return chunks(subs, LOGIN_BATCH).map((slice) =>
    request(
      nextId(),
      'combine.batch_login',
      {
        signMethod: signmethod,
        deviceList: slice.map((sub) => ({
          ...signSubDevice(sub, signmethod, now),
          cleanSession: String(cleanSession),
        })),
      },
      true,
    ),
  );
}

export function batchLogoutRequests(subs: readonly DeviceRef[], nextId: () => string): AlinkRequest[] {
  return chunks(subs, LOGIN_BATCH).map((slice) =>
    request(
      nextId(),
      'combine.batch_logout',
      slice.map(({ productKey, deviceName }) => ({ productKey, deviceName })),
      true,
    ),
  );
}

/** A sub-device's key in the maps and sets of the gateway code: `productKey/deviceName`. */
export const keyOf = (d: DeviceRef): string => `${d.productKey}/${d.deviceName}`;

/** The `{productKey, deviceName}` pairs a reply's `data` lists (an array, or one object for single calls). */
export function devicesIn(data: unknown): DeviceRef[] {
  const list = Array.isArray(data) ? data : [data];
  return list.flatMap((item: unknown) => {
    const v = item as Partial<Record<string, unknown>> | null;
    return typeof v?.productKey === 'string' && typeof v.deviceName === 'string'
      ? [{ productKey: v.productKey, deviceName: v.deviceName }]
      : [];
  });
}

/** `thing/topo/get`: its params are an empty object. */
export function topoGetRequest(id: string): AlinkRequest {
  return request(id, 'thing.topo.get', {}, true);
}

/** `thing/topo/change` status: 0 created, 1 deleted, 2 enabled, 8 disabled. */
export interface TopoChange {
  status: number;
  devices: DeviceRef[];
}

/** A `thing/topo/change` from the cloud; undefined when malformed. */
export function parseTopoChange(payload: Buffer | string): TopoChange | undefined {
  const params = parseJsonObject(payload)?.params as { status?: unknown; subList?: unknown } | undefined;
  const status = Number(params?.status);
  if (!params || !Number.isInteger(status)) return undefined;
  return { status, devices: devicesIn(params.subList ?? []) };
}

export interface ExtError {
  code: number;
  device: DeviceRef | undefined;
  message: string;
}

/** An `/ext/error/{gw}` message: the code and the sub-device it concerns; undefined when malformed. */
export function parseExtError(payload: Buffer | string): ExtError | undefined {
  const v = parseJsonObject(payload);
  if (!v) return undefined;
  const code = typeof v.code === 'number' ? v.code : Number(v.code);
  if (!Number.isInteger(code)) return undefined;
  return { code, device: devicesIn(v.data)[0], message: typeof v.message === 'string' ? v.message : '' };
}

/**
 * What a sub-device does after a refused login or an `/ext/error` code (PLATFORM.md §11):
 * - `relogin`: its session is gone (520): log in again, bounded by backoff;
 * - `kicked`: the same sub-device logged in elsewhere (427, 527): back off as a kicked device;
 * - `stop`: nothing changes until the user acts (no topology 6401, deleted 521, disabled 522 or
 *   6204, wrong secret 6287 or a topo/add signature refused 401, unknown 6100; registration off 6288, already registered 6289, itself
 *   6402, bound to another gateway 6619): no retry until a redeploy or a topology change;
 * - `backoff`: anything else (429 rate, 428 too many online, 500...): retry later.
 */
export type SubDeviceVerdict = 'relogin' | 'kicked' | 'stop' | 'backoff';

const STOP = new Set([401, 6401, 521, 522, 6204, 6287, 6100, 6288, 6289, 6402, 6619]);

export function verdictOf(code: number): SubDeviceVerdict {
  if (code === 520) return 'relogin';
  if (code === 427 || code === 527) return 'kicked';
  return STOP.has(code) ? 'stop' : 'backoff';
}

/** How a failed all-or-nothing request (a batch login, a topo/add) is answered for each in it. */
export interface RefusalSplit<T> {
  /** They take the code. */
  atFault: T[];
  /** Refused only for their company: asked for again without those at fault. */
  again: T[];
  /** `again` goes one by one: the failure told no one apart. */
  alone: boolean;
}

/**
 * A batch request succeeds or fails as a whole, and a failure's data names the sub-devices at
 * fault (PLATFORM.md §11; the failure's exact form is UNVERIFIED: `{productKey, deviceName}`
 * pairs are read). A code that concerns the request (429, 428, 500...) concerns all of it. A code
 * that stops a sub-device (a wrong secret, no topology) stops only those named, so that one bad
 * sub-device never holds out the rest; naming none or all of several tells no one apart, and each
 * is asked for again by itself.
 */
export function splitRefusal<T extends { readonly device: DeviceRef }>(
  batch: readonly T[],
  code: number,
  data: unknown,
): RefusalSplit<T> {
  if (batch.length < 2 || verdictOf(code) !== 'stop') return { atFault: [...batch], again: [], alone: false };
  const named = new Set(devicesIn(data).map(keyOf));
  const isNamed = (c: T) => named.has(keyOf(c.device));
  const atFault = batch.filter(isNamed);
  if (atFault.length === 0 || atFault.length === batch.length) return { atFault: [], again: [...batch], alone: true };
  return { atFault, again: batch.filter((c) => !isNamed(c)), alone: false };
}
