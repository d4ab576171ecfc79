// The rules a device's settings must follow, shared by the runtime (options.ts) and the editor
// (the build wraps this file into resources/ for the config dialog). No imports: it runs in browsers.

export const SIGN_METHODS = ['hmacsha256', 'hmacsha1', 'hmacmd5'] as const;
export type SignMethod = (typeof SIGN_METHODS)[number];

export const TRANSPORTS = ['tls', 'tcp', 'wss', 'ws'] as const;
export type Transport = (typeof TRANSPORTS)[number];

export const ENDPOINT_KINDS = ['public', 'instance', 'custom'] as const;
export type EndpointKind = (typeof ENDPOINT_KINDS)[number];

/** Regions of the legacy public instance named by the platform's SDKs and docs. */
export const REGIONS = [
  'cn-shanghai',
  'cn-beijing',
  'cn-shenzhen',
  'ap-southeast-1',
  'ap-northeast-1',
  'us-west-1',
  'us-east-1',
  'eu-central-1',
] as const;
export type RegionId = (typeof REGIONS)[number];

export const LIMITS = Object.freeze({
  keepaliveMin: 30,
  keepaliveMax: 1200,
  clientIdMax: 64,
  deviceNameMax: 32,
  queueSizeMax: 1_000_000,
  portMin: 1,
  portMax: 65535,
});

/** Every code the validation can produce; each has an en-US and a zh-CN message. */
export const OPTION_ERROR_CODES = [
  'PRODUCT_KEY_MISSING',
  'PRODUCT_KEY_CHARS',
  'DEVICE_NAME_MISSING',
  'DEVICE_NAME_TOO_LONG',
  'DEVICE_NAME_CHARS',
  'DEVICE_SECRET_MISSING',
  'ENDPOINT_UNKNOWN',
  'REGION_UNKNOWN',
  'INSTANCE_ID_INVALID',
  'HOST_MISSING',
  'HOST_INVALID',
  'TRANSPORT_UNKNOWN',
  'PORT_NOT_INTEGER',
  'PORT_RANGE',
  'SIGN_METHOD_UNKNOWN',
  'CLIENT_ID_TOO_LONG',
  'CLIENT_ID_CHARS',
  'KEEPALIVE_NOT_INTEGER',
  'KEEPALIVE_RANGE',
  'QUEUE_SIZE_NOT_INTEGER',
  'QUEUE_SIZE_RANGE',
  'CA_INVALID',
  'QOS_INVALID',
] as const;
export type OptionErrorCode = (typeof OPTION_ERROR_CODES)[number];

export interface Problem {
  readonly code: OptionErrorCode;
  readonly params: Readonly<Record<string, unknown>>;
}

/** Settings as a flow or the editor holds them: strings and numbers alike. */
export type RawSettings = Readonly<Record<string, unknown>>;

/** The fields checked, in the order errors are reported. */
export const CHECKED_FIELDS = [
  'productKey',
  'deviceName',
  'deviceSecret',
  'endpoint',
  'regionId',
  'instanceId',
  'host',
  'transport',
  'port',
  'signmethod',
  'clientId',
  'keepalive',
  'queueSize',
  'ca',
] as const;
export type CheckedField = (typeof CHECKED_FIELDS)[number];

const includes = (list: readonly string[], value: unknown): boolean =>
  typeof value === 'string' && list.includes(value);
export const isSignMethod = (v: unknown): v is SignMethod => includes(SIGN_METHODS, v);
export const isTransport = (v: unknown): v is Transport => includes(TRANSPORTS, v);
export const isEndpointKind = (v: unknown): v is EndpointKind => includes(ENDPOINT_KINDS, v);
export const isRegion = (v: unknown): v is RegionId => includes(REGIONS, v);

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const CLIENT_ID_FORBIDDEN = /[|,=]/;
// Console rule: letters, digits and - _ @ . : ; the length is checked on its own.
const DEVICE_NAME_CHARS = /^[A-Za-z0-9_\-@.:]+$/;
// Characters that would break the username (`dn&pk`) or a topic level.
const PRODUCT_KEY_FORBIDDEN = /[\s&/+#|]/;
const INSTANCE_ID = /^iot-[a-z0-9][a-z0-9-]{2,62}$/i;
const HOST_FORBIDDEN = /[\s/]|:\/\//;
export const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Strings and numbers as trimmed text; anything else (objects, null) counts as blank. */
export function text(value: unknown): string {
  if (typeof value === 'string') return value.trim();
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : '';
}

/** An integer from a number or a decimal string; NaN for anything else. */
export function integer(value: unknown): number {
  if (typeof value === 'number') return Number.isInteger(value) ? value : NaN;
  const s = text(value);
  return /^-?\d+$/.test(s) ? Number(s) : NaN;
}

function bounded(raw: unknown, min: number, max: number, prefix: 'PORT' | 'KEEPALIVE' | 'QUEUE_SIZE'): Problem[] {
  if (text(raw) === '') return [];
  const n = integer(raw);
  if (Number.isNaN(n)) return [{ code: `${prefix}_NOT_INTEGER`, params: { min, max } }];
  return n < min || n > max ? [{ code: `${prefix}_RANGE`, params: { min, max } }] : [];
}

const endpointOf = (s: RawSettings): string => text(s.endpoint) || 'public';

const CHECKS: Readonly<Record<CheckedField, (s: RawSettings) => Problem[]>> = {
  productKey: (s) => {
    const v = text(s.productKey);
    if (!v) return [{ code: 'PRODUCT_KEY_MISSING', params: {} }];
    return PRODUCT_KEY_FORBIDDEN.test(v) ? [{ code: 'PRODUCT_KEY_CHARS', params: {} }] : [];
  },
  deviceName: (s) => {
    const v = text(s.deviceName);
    if (!v) return [{ code: 'DEVICE_NAME_MISSING', params: {} }];
    if (v.length > LIMITS.deviceNameMax)
      return [{ code: 'DEVICE_NAME_TOO_LONG', params: { max: LIMITS.deviceNameMax } }];
    return DEVICE_NAME_CHARS.test(v) ? [] : [{ code: 'DEVICE_NAME_CHARS', params: {} }];
  },
  deviceSecret: (s) => (text(s.deviceSecret) ? [] : [{ code: 'DEVICE_SECRET_MISSING', params: {} }]),
  endpoint: (s) =>
    isEndpointKind(endpointOf(s)) ? [] : [{ code: 'ENDPOINT_UNKNOWN', params: { value: endpointOf(s) } }],
  regionId: (s) => {
    const v = text(s.regionId) || 'cn-shanghai';
    return endpointOf(s) !== 'public' || isRegion(v) ? [] : [{ code: 'REGION_UNKNOWN', params: { value: v } }];
  },
  instanceId: (s) =>
    endpointOf(s) !== 'instance' || INSTANCE_ID.test(text(s.instanceId))
      ? []
      : [{ code: 'INSTANCE_ID_INVALID', params: {} }],
  host: (s) => {
    if (endpointOf(s) !== 'custom') return [];
    const v = text(s.host);
    if (!v) return [{ code: 'HOST_MISSING', params: {} }];
    return HOST_FORBIDDEN.test(v) ? [{ code: 'HOST_INVALID', params: {} }] : [];
  },
  transport: (s) => {
    const v = text(s.transport) || 'tls';
    return isTransport(v) ? [] : [{ code: 'TRANSPORT_UNKNOWN', params: { value: v } }];
  },
  port: (s) => bounded(s.port, LIMITS.portMin, LIMITS.portMax, 'PORT'),
  signmethod: (s) => {
    const v = text(s.signmethod) || 'hmacsha256';
    return isSignMethod(v) ? [] : [{ code: 'SIGN_METHOD_UNKNOWN', params: { value: v } }];
  },
  clientId: (s) => {
    const v = resolvedClientId(s);
    const out: Problem[] = [];
    if (v.length > LIMITS.clientIdMax) out.push({ code: 'CLIENT_ID_TOO_LONG', params: { max: LIMITS.clientIdMax } });
    if (CLIENT_ID_FORBIDDEN.test(v) || CONTROL.test(v)) out.push({ code: 'CLIENT_ID_CHARS', params: {} });
    return out;
  },
  keepalive: (s) => bounded(s.keepalive, LIMITS.keepaliveMin, LIMITS.keepaliveMax, 'KEEPALIVE'),
  queueSize: (s) => bounded(s.queueSize, 0, LIMITS.queueSizeMax, 'QUEUE_SIZE'),
  ca: (s) => {
    const v = text(s.ca);
    return !v || (v.match(PEM_CERTIFICATE) ?? []).length > 0 ? [] : [{ code: 'CA_INVALID', params: {} }];
  },
};

/** The clientId a device logs in with: the user's, or `${productKey}.${deviceName}`. */
export function resolvedClientId(s: RawSettings): string {
  return text(s.clientId) || `${text(s.productKey)}.${text(s.deviceName)}`;
}

/** Problems of one field, judged with the other settings it depends on (endpoint kind, triple). */
export function checkField(field: CheckedField, settings: RawSettings): Problem[] {
  return CHECKS[field](settings);
}

/** Publish and subscribe QoS: the platform supports 0 and 1 only. */
export function checkQos(value: unknown): Problem | undefined {
  const n = integer(value);
  return n === 0 || n === 1 ? undefined : { code: 'QOS_INVALID', params: { value: String(value) } };
}
