// What a flow hands the cloud-api node, turned into the OpenAPI's string parameters
// (PLATFORM.md §17.2): the platform wants base64 in MessageContent and RequestBase64Byte, and JSON
// *strings* in Items, Args and ShadowMessage; flows have Buffers, text and objects. Lists become
// `Name.1`, `Name.2`... as the RPC style numbers them. And the answers decoded back for the flow.
import type { Problem } from '../errors';

/** The actions the node offers by name; any other action name goes through unchanged. */
export const KNOWN_ACTIONS = [
  'Pub',
  'RRpc',
  'SetDeviceProperty',
  'InvokeThingService',
  'QueryDeviceDetail',
  'GetDeviceShadow',
  'UpdateDeviceShadow',
] as const;

/** Parameters carried as base64 of the bytes the flow gives. */
const BASE64_PARAMS = new Set(['MessageContent', 'RequestBase64Byte']);
/** Parameters carried as a JSON text of the object the flow gives. */
const JSON_PARAMS = new Set(['Items', 'Args', 'ShadowMessage']);
/** The common parameters are the signer's: a flow setting them would break or forge the call. */
const RESERVED = new Set([
  'Action',
  'Format',
  'Version',
  'AccessKeyId',
  'Signature',
  'SignatureMethod',
  'SignatureVersion',
  'SignatureNonce',
  'Timestamp',
]);
const ACTION_NAME = /^[A-Z][A-Za-z0-9]{0,99}$/;
const PARAM_NAME = /^[A-Za-z][A-Za-z0-9._]{0,127}$/;

export function isActionName(value: unknown): value is string {
  return typeof value === 'string' && ACTION_NAME.test(value);
}

function bytesOf(value: unknown): Buffer | undefined {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (value instanceof Uint8Array) return Buffer.from(value);
  const json = jsonText(value);
  return json === undefined ? undefined : Buffer.from(json, 'utf8');
}

function jsonText(value: unknown): string | undefined {
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint')
    return undefined;
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}

function scalar(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : undefined;
  if (typeof value === 'boolean') return String(value);
  return undefined;
}

type Params = Record<string, string>;

function put(out: Params, name: string, value: unknown, depth: number): Problem | undefined {
  if (depth > 3) return { code: 'API_PARAM_INVALID', params: { name } };
  if (BASE64_PARAMS.has(name)) {
    const bytes = bytesOf(value);
    if (!bytes) return { code: 'API_PARAM_INVALID', params: { name } };
    out[name] = bytes.toString('base64');
    return undefined;
  }
  if (JSON_PARAMS.has(name) && typeof value !== 'string') {
    const json = value !== null && typeof value === 'object' ? jsonText(value) : undefined;
    if (json === undefined) return { code: 'API_PARAM_INVALID', params: { name } };
    out[name] = json;
    return undefined;
  }
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const problem = put(out, `${name}.${i + 1}`, item, depth + 1);
      if (problem) return problem;
    }
    return undefined;
  }
  if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    // A list's item with fields (`Tag.1.TagKey`), as the RPC style flattens them.
    for (const [key, item] of Object.entries(value)) {
      if (!PARAM_NAME.test(key)) return { code: 'API_PARAM_INVALID', params: { name: `${name}.${key}` } };
      const problem = put(out, `${name}.${key}`, item, depth + 1);
      if (problem) return problem;
    }
    return undefined;
  }
  const text = scalar(value);
  if (text === undefined) return { code: 'API_PARAM_INVALID', params: { name } };
  out[name] = text;
  return undefined;
}

/**
 * The action's parameters from `msg.payload` (an object of name → value), or the reason they
 * cannot be sent. `null` and `undefined` values are left out, as a form leaves out an empty field.
 */
export function actionParams(payload: unknown): { params: Params } | { problem: Problem } {
  if (payload === undefined || payload === null) return { params: {} };
  if (typeof payload !== 'object' || Array.isArray(payload) || Buffer.isBuffer(payload))
    return { problem: { code: 'API_PARAMS_INVALID', params: {} } };
  const out: Params = {};
  for (const [name, value] of Object.entries(payload as Record<string, unknown>)) {
    if (value === undefined || value === null) continue;
    if (!PARAM_NAME.test(name)) return { problem: { code: 'API_PARAM_INVALID', params: { name: name.slice(0, 64) } } };
    if (RESERVED.has(name)) return { problem: { code: 'API_PARAM_RESERVED', params: { name } } };
    const problem = put(out, name, value, 0);
    if (problem) return { problem };
  }
  return { params: out };
}

/**
 * What the answer means for a flow, beside the answer itself: RRpc's device reply as bytes, and a
 * synchronous service's result parsed (the platform hands both over encoded).
 */
export function decodedAnswer(action: string, answer: Record<string, unknown>): { reply?: Buffer; result?: unknown } {
  if (action === 'RRpc' && typeof answer.PayloadBase64Byte === 'string')
    return { reply: Buffer.from(answer.PayloadBase64Byte, 'base64') };
  const data = answer.Data as Record<string, unknown> | undefined;
  if (action === 'InvokeThingService' && typeof data?.Result === 'string') {
    try {
      return { result: JSON.parse(data.Result) as unknown };
    } catch {
      return { result: data.Result };
    }
  }
  return {};
}

/** Fields of answers that are secrets (QueryDeviceDetail, RegisterDevice, QueryProduct...). */
const SECRET_FIELDS = new Set(['DeviceSecret', 'ProductSecret']);

/**
 * The answer without its secrets, and where they were: a debug node or a log must never show a
 * DeviceSecret. A flow that provisions devices asks for them explicitly (the node's option).
 */
export function withoutSecrets(value: unknown, path = ''): { value: unknown; removed: string[] } {
  if (Array.isArray(value)) {
    const removed: string[] = [];
    const out = value.map((item, i) => {
      const inner = withoutSecrets(item, `${path}[${i}]`);
      removed.push(...inner.removed);
      return inner.value;
    });
    return { value: out, removed };
  }
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return { value, removed: [] };
  const removed: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    const where = path ? `${path}.${key}` : key;
    if (SECRET_FIELDS.has(key)) {
      removed.push(where);
      continue;
    }
    const inner = withoutSecrets(item, where);
    removed.push(...inner.removed);
    out[key] = inner.value;
  }
  return { value: out, removed };
}
