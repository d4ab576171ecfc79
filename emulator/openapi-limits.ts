// The OpenAPI's limits: calls per second per AccessKey and action (PLATFORM.md §17.2: Pub 1,600,
// SetDeviceProperty 500, QueryDeviceDetail 50; InvokeThingService, GetDeviceShadow and
// UpdateDeviceShadow 500 as their API pages give them; RRpc 1,000 per account, DOC:69797
// https://help.aliyun.com/document_detail/69797.html), and the windows of the request checks. All
// can be made small for tests.

/** The actions the emulator answers. */
export const OPENAPI_ACTIONS = [
  'Pub',
  'RRpc',
  'SetDeviceProperty',
  'InvokeThingService',
  'QueryDeviceDetail',
  'GetDeviceShadow',
  'UpdateDeviceShadow',
] as const;
export type OpenApiAction = (typeof OPENAPI_ACTIONS)[number];

export const OPENAPI_QPS: Readonly<Record<OpenApiAction, number>> = {
  Pub: 1600,
  RRpc: 1000,
  SetDeviceProperty: 500,
  InvokeThingService: 500,
  QueryDeviceDetail: 50,
  GetDeviceShadow: 500,
  UpdateDeviceShadow: 500,
};

export interface OpenApiLimits {
  /** Calls per second per AccessKey, by action; 0 switches an action's limit off. */
  qps?: Partial<Record<OpenApiAction, number>>;
  /** How long a `SignatureNonce` may not be used again by the same AccessKey (15 minutes). */
  nonceWindowMs?: number;
  /** How far `Timestamp` may lie from the emulator's clock, either way (15 minutes). */
  timestampSkewMs?: number;
}

export interface ResolvedOpenApiLimits {
  qps: Record<OpenApiAction, number>;
  nonceWindowMs: number;
  timestampSkewMs: number;
}

/**
 * The 15-minute windows are UNVERIFIED: the signature documents say the nonce is unique per
 * request and the timestamp is checked, the commonly quoted window of both is 15 minutes.
 */
export const OPENAPI_WINDOW_MS = 15 * 60 * 1000;

function whole(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min)
    throw new Error(`openApiLimits.${name} must be a whole number of at least ${min}, got ${String(value)}`);
  return value;
}

/** The limits in force; throws on a value that is not a whole number (or an unknown action). */
export function openApiLimits(given: OpenApiLimits = {}): ResolvedOpenApiLimits {
  const qps = { ...OPENAPI_QPS };
  // A key given as undefined keeps the platform's figure.
  for (const [action, value] of Object.entries(given.qps ?? {}) as [string, number | undefined][]) {
    if (!(OPENAPI_ACTIONS as readonly string[]).includes(action))
      throw new Error(`openApiLimits.qps: unknown action ${action}`);
    if (value !== undefined) qps[action as OpenApiAction] = whole(`qps.${action}`, value, 0);
  }
  return {
    qps,
    nonceWindowMs: whole('nonceWindowMs', given.nonceWindowMs ?? OPENAPI_WINDOW_MS, 1),
    timestampSkewMs: whole('timestampSkewMs', given.timestampSkewMs ?? OPENAPI_WINDOW_MS, 0),
  };
}

/** Calls in the last second per AccessKey and action; each admitted call counts. */
export class CallRates {
  private readonly recent = new Map<string, number[]>();

  constructor(private readonly qps: Readonly<Record<OpenApiAction, number>>) {}

  /** Counts the call; false when the AccessKey already made its limit of this action within the last second. */
  admit(accessKeyId: string, action: OpenApiAction, now = Date.now()): boolean {
    const limit = this.qps[action];
    if (limit === 0) return true;
    const key = `${accessKeyId}\n${action}`;
    let times = this.recent.get(key);
    if (!times) this.recent.set(key, (times = []));
    while (times.length > 0 && (times[0] ?? 0) <= now - 1000) times.shift();
    if (times.length >= limit) return false;
    times.push(now);
    return true;
  }
}
