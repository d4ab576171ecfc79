// The device shadow's wire protocol (设备影子, PLATFORM.md §13): requests on `/shadow/update/{pk}/{dn}`
// (get, update, delete; `get` too goes on the update topic), every answer and the cloud's `control`
// pushes on `/shadow/get/{pk}/{dn}`. The platform writes "delete this" as the string "null"; flows
// use JavaScript null (a reported key given as null is deleted by the client, see shadow-client.ts).
import type { DeviceRef } from './alink';
import { parseJsonObject } from './payload';

export const shadowTopics = {
  update: (d: DeviceRef): string => `/shadow/update/${d.productKey}/${d.deviceName}`,
  get: (d: DeviceRef): string => `/shadow/get/${d.productKey}/${d.deviceName}`,
};

type State = Record<string, unknown>;

/** The platform's "null" strings as JavaScript null, one level deep (where the platform uses them). */
export function fromWire(value: unknown): unknown {
  if (value === 'null') return null;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value as State).map(([k, v]) => [k, v === 'null' ? null : v]));
}

export interface ShadowRequest {
  method: 'get' | 'update' | 'delete';
  state?: Record<string, unknown>;
  version?: number;
  /** Echoed in the reply: how the reply finds its request. */
  clientToken: string;
}

export const shadowRequests = {
  get: (clientToken: string): ShadowRequest => ({ method: 'get', clientToken }),
  report: (reported: State, version: number, clientToken: string): ShadowRequest => ({
    method: 'update',
    state: { reported },
    version,
    clientToken,
  }),
  clearDesired: (version: number, clientToken: string): ShadowRequest => ({
    method: 'update',
    state: { desired: 'null' },
    version,
    clientToken,
  }),
  /** `keys` undefined: all of reported. */
  deleteReported: (keys: readonly string[] | undefined, version: number, clientToken: string): ShadowRequest => ({
    method: 'delete',
    state: { reported: keys ? Object.fromEntries(keys.map((k) => [k, 'null'])) : 'null' },
    version,
    clientToken,
  }),
};

/** What arrived on `/shadow/get`: a reply to a request, or the cloud's push of a new desired state. */
export interface ShadowMessage {
  kind: 'reply' | 'control';
  clientToken: string | undefined;
  ok: boolean;
  /** The platform's error code (403 version conflict...) of a refused request. */
  errorCode: number | undefined;
  errorMessage: string;
  /** Top-level `version` (get reply, control) or `payload.version` (update reply). */
  version: number | undefined;
  reported: State | undefined;
  desired: State | undefined;
  metadata: unknown;
}

const asState = (v: unknown): State | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (fromWire(v) as State) : undefined;
const asNumber = (v: unknown): number | undefined => {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
};

/** A message from `/shadow/get`; undefined when it is none of the platform's shapes. */
export function parseShadowMessage(payload: Buffer | string): ShadowMessage | undefined {
  const body = parseJsonObject(payload);
  if (!body || (body.method !== 'reply' && body.method !== 'control')) return undefined;
  const inner = (body.payload ?? {}) as Record<string, unknown>;
  const state = (inner.state ?? {}) as Record<string, unknown>;
  const content = (inner.content ?? {}) as Record<string, unknown>;
  const ok = body.method === 'control' || inner.status === 'success';
  return {
    kind: body.method,
    clientToken: typeof body.clientToken === 'string' ? body.clientToken : undefined,
    ok,
    errorCode: ok ? undefined : asNumber(content.errorcode),
    errorMessage: typeof content.errormessage === 'string' ? content.errormessage : '',
    version: asNumber(body.version) ?? asNumber(inner.version),
    reported: asState(state.reported),
    desired: asState(state.desired),
    metadata: inner.metadata,
  };
}

/** A flow's `delete` payload: a list of reported keys, or nothing for all of reported. */
export function deleteKeys(payload: unknown): { ok: true; keys: string[] | undefined } | { ok: false } {
  if (payload === undefined || payload === null || payload === '') return { ok: true, keys: undefined };
  if (typeof payload === 'string') return { ok: true, keys: [payload] };
  if (Array.isArray(payload) && payload.length > 0 && payload.every((k) => typeof k === 'string' && k !== ''))
    return { ok: true, keys: payload as string[] };
  return { ok: false };
}
