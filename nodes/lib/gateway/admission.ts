// What a batch of sub-devices needs before its batch login (PLATFORM.md §11): a DeviceSecret (the
// user's, one an earlier registration kept, or one registered now through the gateway with
// `thing/sub/register`, 30 per request), and a place in the gateway's topology (`thing/topo/add`,
// 30 per request, each signed with that secret). Each step answers which sub-devices it refused,
// with the platform's code; the gateway session decides what a code means.
import { request, type AlinkReply, type DeviceRef } from '../alink';
import type { ErrorCode } from '../errors';
import type { CredentialStore, StoredCredentials } from '../login';
import type { GatewayLink } from './parties';
import {
  chunks,
  devicesIn,
  gatewayTopics,
  keyOf,
  REGISTER_BATCH,
  splitRefusal,
  TOPO_BATCH,
  topoAddRequests,
} from './protocol';
import type { GatewayRequests } from './requests';

/** A sub-device on its way to a login. */
export interface Candidate {
  readonly device: DeviceRef;
  /** Its DeviceSecret once known. */
  secret: string | undefined;
  /** Registration mode: where a secret registered through the gateway is kept (never registered twice). */
  readonly store: CredentialStore | undefined;
  /** Trouble with the store, worth a log line on the sub-device's config node. */
  readonly warn: (code: ErrorCode, params: Record<string, unknown>) => void;
}

/** The candidates a step refused, with the platform's code (500 when the answer left one out). */
export type Refusals = Map<Candidate, number>;

export interface AdmissionContext {
  readonly requests: GatewayRequests;
  readonly gateway: GatewayLink['options'];
  readonly now: () => number;
  /** False once the gateway dropped: stop, whatever was asked is void. */
  readonly alive: () => boolean;
}

/** What an earlier registration of this very sub-device kept; undefined when nothing usable. */
async function kept(candidate: Candidate): Promise<string | undefined> {
  let found: StoredCredentials | undefined;
  try {
    found = await candidate.store?.load();
  } catch (err) {
    // Registering again is the way out; the platform answers 6289 when it was registered before.
    candidate.warn('SECRET_NOT_LOADED', { reason: err instanceof Error ? err.message : String(err) });
  }
  const { productKey, deviceName } = candidate.device;
  return found?.productKey === productKey && found.deviceName === deviceName ? found.deviceSecret : undefined;
}

/**
 * Fills in the secret of candidates in registration mode that have none: from their store, else
 * by registering them through the gateway (and keeping the answer before anything else happens).
 */
export async function obtainSecrets(ctx: AdmissionContext, lacking: readonly Candidate[]): Promise<Refusals> {
  const refused: Refusals = new Map();
  const unknown: Candidate[] = [];
  for (const candidate of lacking) {
    candidate.secret = await kept(candidate);
    if (!ctx.alive()) return refused;
    if (candidate.secret === undefined) unknown.push(candidate);
  }
  for (const slice of chunks(unknown, REGISTER_BATCH)) {
    const params = slice.map(({ device: { productKey, deviceName } }) => ({ productKey, deviceName }));
    const req = request(ctx.requests.nextId(), 'thing.sub.register', params, true);
    const reply = await ctx.requests.send(gatewayTopics.subRegister(ctx.gateway), req);
    if (!ctx.alive()) return refused;
    const issued = issuedSecrets(reply);
    for (const candidate of slice) {
      const secret = issued.get(keyOf(candidate.device));
      if (secret === undefined) refused.set(candidate, reply.code === 200 ? 500 : reply.code);
      else await keepSecret(candidate, secret);
    }
  }
  return refused;
}

/** The DeviceSecrets a sub/register reply issued, by `productKey/deviceName`. */
export function issuedSecrets(reply: AlinkReply): Map<string, string> {
  const issued = new Map<string, string>();
  if (reply.code !== 200 || !Array.isArray(reply.data)) return issued;
  for (const item of reply.data as Partial<Record<string, unknown>>[]) {
    const [device] = devicesIn(item);
    if (device && typeof item.deviceSecret === 'string') issued.set(keyOf(device), item.deviceSecret);
  }
  return issued;
}

/** The platform issues a secret once: keeping it matters more than this login. */
export async function keepSecret(candidate: Candidate, secret: string): Promise<void> {
  candidate.secret = secret;
  await candidate.store
    ?.save({ ...candidate.device, deviceSecret: secret })
    .catch((err: unknown) =>
      candidate.warn('SECRET_NOT_SAVED', { reason: err instanceof Error ? err.message : String(err) }),
    );
}

/** Adds the candidates `topology` lacks to it, 30 per request; `topology` learns what was added. */
export async function addToTopology(
  ctx: AdmissionContext,
  batch: readonly Candidate[],
  topology: Set<string>,
): Promise<Refusals> {
  const refused: Refusals = new Map();
  const missing = batch.filter((c) => !topology.has(keyOf(c.device)));
  for (const slice of chunks(missing, TOPO_BATCH)) await addSlice(ctx, slice, topology, refused);
  return refused;
}

/** One topo/add; those refused only for their company (see splitRefusal) are added again without it. */
async function addSlice(
  ctx: AdmissionContext,
  slice: readonly Candidate[],
  topology: Set<string>,
  refused: Refusals,
): Promise<void> {
  if (!ctx.alive()) return;
  const subs = slice.map((c) => ({ ...c.device, deviceSecret: c.secret ?? '' }));
  const [req] = topoAddRequests(subs, ctx.gateway.signmethod, ctx.now(), () => ctx.requests.nextId());
  if (!req) return;
  const reply = await ctx.requests.send(gatewayTopics.topoAdd(ctx.gateway), req);
  if (!ctx.alive()) return;
  if (reply.code === 200) {
    for (const candidate of slice) topology.add(keyOf(candidate.device));
    return;
  }
  const { atFault, again, alone } = splitRefusal(slice, reply.code, reply.data);
  for (const candidate of atFault) refused.set(candidate, reply.code);
  if (alone) for (const candidate of again) await addSlice(ctx, [candidate], topology, refused);
  else if (again.length > 0) await addSlice(ctx, again, topology, refused);
}
