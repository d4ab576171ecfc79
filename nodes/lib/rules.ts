// The rules a device's settings must follow, shared by the runtime (options.ts) and the editor
// (the build wraps this file into resources/ for the config dialog). It imports only fields.ts,
// which the editor loads before it: it runs in browsers.
import {
  AUTH_MODES,
  ENDPOINT_KINDS,
  REGIONS,
  REGISTER_KINDS,
  REGISTER_VIA,
  SIGN_METHODS,
  TRANSPORTS,
  choiceOf,
  needsTls,
  text,
  usesHttps,
  viaGateway,
  ofProduct,
  type AuthMode,
  type EndpointKind,
  type RawSettings,
  type RegionId,
  type SignMethod,
  type Transport,
} from './fields';

export { text, usesHttps, type RawSettings } from './fields';

export const LIMITS = Object.freeze({
  keepaliveMin: 30,
  keepaliveMax: 1200,
  clientIdMax: 64,
  deviceNameMax: 32,
  queueSizeMax: 1_000_000,
  /** Upstream messages per second; the platform's own limit is 30. */
  rateLimitMax: 1000,
  /** Through one gateway: 2,000 sub-devices at the platform's 30/s each, with room. */
  gatewayRateLimitMax: 100_000,
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
  'PRODUCT_SECRET_MISSING',
  'AUTH_MODE_UNKNOWN',
  'REGISTER_VIA_UNKNOWN',
  'REGISTER_KIND_UNKNOWN',
  'AUTH_NEEDS_TLS',
  'AUTH_HOST_MISSING',
  'AUTH_HOST_INVALID',
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
  'RATE_LIMIT_NOT_INTEGER',
  'RATE_LIMIT_RANGE',
  'GATEWAY_RATE_NOT_INTEGER',
  'GATEWAY_RATE_RANGE',
  'CA_INVALID',
  'QOS_INVALID',
  'GATEWAY_AUTH_MODE',
] as const;
export type OptionErrorCode = (typeof OPTION_ERROR_CODES)[number];

export interface Problem {
  readonly code: OptionErrorCode;
  readonly params: Readonly<Record<string, unknown>>;
}

/** The fields checked, in the order errors are reported. */
export const CHECKED_FIELDS = [
  'productKey',
  'deviceName',
  'authMode',
  'registerVia',
  'registerKind',
  'deviceSecret',
  'productSecret',
  'gateway',
  'endpoint',
  'regionId',
  'instanceId',
  'host',
  'transport',
  'port',
  'authHost',
  'signmethod',
  'clientId',
  'keepalive',
  'queueSize',
  'rateLimit',
  'gatewayRateLimit',
  'ca',
] as const;
export type CheckedField = (typeof CHECKED_FIELDS)[number];

const includes = (list: readonly string[], value: unknown): boolean =>
  typeof value === 'string' && list.includes(value);
export const isSignMethod = (v: unknown): v is SignMethod => includes(SIGN_METHODS, v);
export const isTransport = (v: unknown): v is Transport => includes(TRANSPORTS, v);
export const isEndpointKind = (v: unknown): v is EndpointKind => includes(ENDPOINT_KINDS, v);
export const isRegion = (v: unknown): v is RegionId => includes(REGIONS, v);
export const isAuthMode = (v: unknown): v is AuthMode => includes(AUTH_MODES, v);

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const CLIENT_ID_FORBIDDEN = /[|,=]/;
// Console rule: letters, digits and - _ @ . : ; the length is checked on its own.
const DEVICE_NAME_CHARS = /^[A-Za-z0-9_\-@.:]+$/;
// Characters that would break the username (`dn&pk`) or a topic level.
const PRODUCT_KEY_FORBIDDEN = /[\s&/+#|]/;
/** An IoT instance ID as the console shows it (`iot-06z00…`); devices and accounts name the same. */
export const INSTANCE_ID = /^iot-[a-z0-9][a-z0-9-]{2,62}$/i;
// A host name (letters of any script, for an internationalized one), an IPv4 address, or an IPv6
// one with or without its brackets; a scheme, port or path is the user's slip, refused here rather
// than failing every login later.
const MQTT_HOST = /^(?:[\p{L}\p{N}_.-]{1,253}|\[?[0-9A-Fa-f:.]+\]?)$/u;
// host or host:port, as the HTTPS auth and registration calls reach it.
const AUTH_HOST = /^(\[[0-9a-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/i;
/** Identifiers (events, services) as the console allows them: letters, digits and underscores, at most 50. */
export const IDENTIFIER = /^[A-Za-z0-9_]{1,50}$/;
export const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** An integer from a number or a decimal string; NaN for anything else. */
export function integer(value: unknown): number {
  if (typeof value === 'number') return Number.isInteger(value) ? value : NaN;
  const s = text(value);
  return /^-?\d+$/.test(s) ? Number(s) : NaN;
}

function bounded(
  raw: unknown,
  min: number,
  max: number,
  prefix: 'PORT' | 'KEEPALIVE' | 'QUEUE_SIZE' | 'RATE_LIMIT' | 'GATEWAY_RATE',
): Problem[] {
  // A hand-edited flow may hold an object or array here: not a blank to default, an error.
  if (raw !== null && typeof raw === 'object') return [{ code: `${prefix}_NOT_INTEGER`, params: { min, max } }];
  if (text(raw) === '') return [];
  const n = integer(raw);
  if (Number.isNaN(n)) return [{ code: `${prefix}_NOT_INTEGER`, params: { min, max } }];
  return n < min || n > max ? [{ code: `${prefix}_RANGE`, params: { min, max } }] : [];
}

const endpointOf = (s: RawSettings): string => choiceOf(s, 'endpoint');
const authModeOf = (s: RawSettings): string => choiceOf(s, 'authMode');

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
  authMode: (s) => (isAuthMode(authModeOf(s)) ? [] : [{ code: 'AUTH_MODE_UNKNOWN', params: { value: authModeOf(s) } }]),
  registerVia: (s) =>
    authModeOf(s) !== 'register' || includes(REGISTER_VIA, choiceOf(s, 'registerVia'))
      ? []
      : [{ code: 'REGISTER_VIA_UNKNOWN', params: { value: choiceOf(s, 'registerVia') } }],
  registerKind: (s) =>
    authModeOf(s) !== 'register' || includes(REGISTER_KINDS, choiceOf(s, 'registerKind'))
      ? []
      : [{ code: 'REGISTER_KIND_UNKNOWN', params: { value: choiceOf(s, 'registerKind') } }],
  // Registration obtains the device secret; the other modes need it.
  deviceSecret: (s) =>
    authModeOf(s) === 'register' || text(s.deviceSecret) ? [] : [{ code: 'DEVICE_SECRET_MISSING', params: {} }],
  productSecret: (s) =>
    authModeOf(s) !== 'register' || text(s.productSecret) ? [] : [{ code: 'PRODUCT_SECRET_MISSING', params: {} }],
  // Sub-devices log in through their gateway with their own secret, given or registered through the
  // gateway (`thing/sub/register`); HTTPS tokens and registration-free logins are direct-only.
  gateway: (s) =>
    !viaGateway(s) || authModeOf(s) === 'sign' || authModeOf(s) === 'register'
      ? []
      : [{ code: 'GATEWAY_AUTH_MODE', params: {} }],
  endpoint: (s) =>
    isEndpointKind(endpointOf(s)) ? [] : [{ code: 'ENDPOINT_UNKNOWN', params: { value: endpointOf(s) } }],
  regionId: (s) => {
    const v = choiceOf(s, 'regionId');
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
    return MQTT_HOST.test(v) ? [] : [{ code: 'HOST_INVALID', params: {} }];
  },
  transport: (s) => {
    const v = choiceOf(s, 'transport');
    if (!isTransport(v)) return [{ code: 'TRANSPORT_UNKNOWN', params: { value: v } }];
    return v !== 'tls' && needsTls(s) ? [{ code: 'AUTH_NEEDS_TLS', params: {} }] : [];
  },
  authHost: (s) => {
    const v = text(s.authHost);
    if (v) return AUTH_HOST.test(v) ? [] : [{ code: 'AUTH_HOST_INVALID', params: {} }];
    // The HTTPS host of instances is not derivable from the instance id: the console shows it.
    return usesHttps(s) && endpointOf(s) === 'instance' ? [{ code: 'AUTH_HOST_MISSING', params: {} }] : [];
  },
  port: (s) => bounded(s.port, LIMITS.portMin, LIMITS.portMax, 'PORT'),
  signmethod: (s) => {
    const v = choiceOf(s, 'signmethod');
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
  rateLimit: (s) => bounded(s.rateLimit, 0, LIMITS.rateLimitMax, 'RATE_LIMIT'),
  gatewayRateLimit: (s) => bounded(s.gatewayRateLimit, 0, LIMITS.gatewayRateLimitMax, 'GATEWAY_RATE'),
  ca: (s) => {
    const v = text(s.ca);
    return !v || (v.match(PEM_CERTIFICATE) ?? []).length > 0 ? [] : [{ code: 'CA_INVALID', params: {} }];
  },
};

/** The clientId a device logs in with: the user's, or `${productKey}.${deviceName}`. */
export function resolvedClientId(s: RawSettings): string {
  return text(s.clientId) || `${text(s.productKey)}.${text(s.deviceName)}`;
}

/** What a sub-device leaves to its gateway: left unchecked, as the dialog hides them. */
const GATEWAY_OWNS: ReadonlySet<CheckedField> = new Set([
  // Registering through the gateway needs no ProductSecret: the gateway vouches for the sub-device.
  'productSecret',
  'registerKind',
  'registerVia',
  'endpoint',
  'regionId',
  'instanceId',
  'host',
  'transport',
  'port',
  'authHost',
  'clientId',
  'keepalive',
  'gatewayRateLimit',
  'ca',
]);

/** What a product config node holds for its devices: it checks them itself. */
const PRODUCT_OWNS: ReadonlySet<CheckedField> = new Set(['productKey', 'productSecret']);

/** Problems of one field, judged with the other settings it depends on (endpoint kind, triple). */
export function checkField(field: CheckedField, settings: RawSettings): Problem[] {
  if (GATEWAY_OWNS.has(field) && viaGateway(settings)) return [];
  if (PRODUCT_OWNS.has(field) && ofProduct(settings)) return [];
  return CHECKS[field](settings);
}

/** Publish and subscribe QoS: the platform supports 0 and 1 only. */
/**
 * Any value as text for an error message, never throwing: String() throws on an object without a
 * prototype (what a query string or JSON-with-reviver hands over) and on one whose toString does.
 */
export function printable(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

export function checkQos(value: unknown): Problem | undefined {
  const n = integer(value);
  return n === 0 || n === 1 ? undefined : { code: 'QOS_INVALID', params: { value: printable(value) } };
}
