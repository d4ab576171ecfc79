// The gateway's topology requests as a flow asks for them (the connect node's actions): read it,
// add and delete sub-devices, report found ones. Each resolves with the devices the platform lists,
// or rejects with its refusal's code (PLATFORM.md §11).
import { replyError, request, type DeviceRef } from '../alink';
import type { Problem } from '../errors';
import type { SignMethod } from '../sign';
import type { GatewayLink } from './parties';
import {
  chunks,
  devicesIn,
  gatewayTopics,
  TOPO_BATCH,
  topoAddRequests,
  topoDeleteRequests,
  topoGetRequest,
  type SubDevice,
} from './protocol';
import type { GatewayRequests } from './requests';

type Gateway = GatewayLink['options'];

async function answered(
  requests: GatewayRequests,
  topic: string,
  req: ReturnType<typeof request>,
): Promise<DeviceRef[]> {
  const reply = await requests.send(topic, req);
  const err = replyError(reply);
  if (err) throw err;
  return devicesIn(reply.data);
}

export function readTopology(requests: GatewayRequests, gw: Gateway): Promise<DeviceRef[]> {
  return answered(requests, gatewayTopics.topoGet(gw), topoGetRequest(requests.nextId()));
}

/** Adds sub-devices 30 per request; stops at the first refusal. */
export async function addTopology(
  requests: GatewayRequests,
  gw: Gateway & { signmethod: SignMethod },
  subs: readonly SubDevice[],
  now: number,
): Promise<DeviceRef[]> {
  const added: DeviceRef[] = [];
  for (const req of topoAddRequests(subs, gw.signmethod, now, () => requests.nextId())) {
    added.push(...(await answered(requests, gatewayTopics.topoAdd(gw), req)));
  }
  return added;
}

export async function deleteTopology(
  requests: GatewayRequests,
  gw: Gateway,
  refs: readonly DeviceRef[],
): Promise<DeviceRef[]> {
  const deleted: DeviceRef[] = [];
  for (const req of topoDeleteRequests(refs, () => requests.nextId())) {
    deleted.push(...(await answered(requests, gatewayTopics.topoDelete(gw), req)));
  }
  return deleted;
}

/** `thing/list/found`: sub-devices the gateway discovered but has not added. */
export async function reportFound(requests: GatewayRequests, gw: Gateway, refs: readonly DeviceRef[]): Promise<void> {
  for (const slice of chunks(refs, TOPO_BATCH)) {
    const params = slice.map(({ productKey, deviceName }) => ({ productKey, deviceName }));
    await answered(requests, gatewayTopics.listFound(gw), request(requests.nextId(), 'thing.list.found', params, true));
  }
}

/**
 * A flow's list of sub-devices: `{productKey, deviceName}` each, with `deviceSecret` where adding
 * needs it; a problem otherwise, naming the entry. Secrets are never part of a problem.
 */
export function subDeviceList(
  value: unknown,
  withSecret: boolean,
): { ok: true; devices: SubDevice[] } | { ok: false; problem: Problem } {
  const invalid = (index: number): { ok: false; problem: Problem } => ({
    ok: false,
    problem: { code: 'SUBDEVICES_INVALID', params: { index } },
  });
  if (!Array.isArray(value) || value.length === 0) return invalid(0);
  const devices: SubDevice[] = [];
  for (const [index, item] of value.entries()) {
    const v = (item ?? {}) as Partial<Record<string, unknown>>;
    const field = (key: string): string => (typeof v[key] === 'string' ? v[key].trim() : '');
    const [productKey, deviceName, deviceSecret] = [field('productKey'), field('deviceName'), field('deviceSecret')];
    if (!productKey || !deviceName || (withSecret && !deviceSecret)) return invalid(index);
    devices.push({ productKey, deviceName, deviceSecret });
  }
  return { ok: true, devices };
}
