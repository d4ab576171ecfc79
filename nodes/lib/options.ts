// A device's settings, validated into one frozen, typed object or a list of precise errors. The
// editor shows the same rules (same codes, same messages) as red fields.
import { DEFAULT_SIGN_METHOD, isSignMethod, type SignMethod } from './sign';
import { isEndpointKind, isRegion, isTransport, type EndpointKind, type Transport } from './endpoint';
import { splitPem } from './ca';
import { messageFor } from './messages';

export const LIMITS = Object.freeze({
  keepaliveMin: 30,
  keepaliveMax: 1200,
  clientIdMax: 64,
  deviceNameMax: 32,
  queueSizeMax: 1_000_000,
  portMin: 1,
  portMax: 65535,
});

export const DEFAULTS: Readonly<{
  endpoint: EndpointKind;
  regionId: string;
  transport: Transport;
  signmethod: SignMethod;
  keepalive: number;
  cleanSession: boolean;
  autoConnect: boolean;
  queueSize: number;
  rejectUnauthorized: boolean;
}> = Object.freeze({
  endpoint: 'public',
  regionId: 'cn-shanghai',
  transport: 'tls',
  signmethod: DEFAULT_SIGN_METHOD,
  keepalive: 300,
  cleanSession: true,
  autoConnect: true,
  queueSize: 1000,
  rejectUnauthorized: true,
});

export interface DeviceOptions {
  readonly name: string;
  readonly productKey: string;
  readonly deviceName: string;
  readonly deviceSecret: string;
  readonly endpoint: EndpointKind;
  readonly regionId: string;
  readonly instanceId: string;
  readonly host: string;
  /** Undefined: the transport's default port. */
  readonly port: number | undefined;
  readonly transport: Transport;
  readonly signmethod: SignMethod;
  /** Resolved: `${productKey}.${deviceName}` when the user left it blank. */
  readonly clientId: string;
  readonly keepalive: number;
  readonly cleanSession: boolean;
  readonly autoConnect: boolean;
  readonly queueSize: number;
  readonly ca: string;
  readonly servername: string;
  readonly rejectUnauthorized: boolean;
}

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
type BoundedField = 'PORT' | 'KEEPALIVE' | 'QUEUE_SIZE';

export interface OptionError {
  readonly code: OptionErrorCode;
  readonly field: string;
  readonly params: Readonly<Record<string, unknown>>;
  /** en-US text; nodes localize through `code`. */
  readonly message: string;
}

export type ValidationResult =
  | { readonly ok: true; readonly options: DeviceOptions; readonly errors: readonly OptionError[] }
  | { readonly ok: false; readonly options?: undefined; readonly errors: readonly OptionError[] };

/** Raw settings as a flow stores them: strings and numbers alike, missing fields take defaults. */
export type RawDeviceOptions = Readonly<Record<string, unknown>>;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const CLIENT_ID_FORBIDDEN = /[|,=]/;
// Console rule: letters, digits and - _ @ . : (4-32); the length limit is checked on its own.
const DEVICE_NAME_CHARS = /^[A-Za-z0-9_\-@.:]+$/;
// Characters that would break the username (`dn&pk`) or a topic level.
const PRODUCT_KEY_FORBIDDEN = /[\s&/+#|]/;
const INSTANCE_ID = /^iot-[a-z0-9][a-z0-9-]{2,62}$/i;
const HOST_FORBIDDEN = /[\s/]|:\/\//;

/** Strings and numbers as trimmed text; anything else (objects, null) counts as blank. */
function text(value: unknown): string {
  if (typeof value === 'string') return value.trim();
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : '';
}

function flag(value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === null || value === '') return fallback;
  return value === true || value === 'true';
}

/** An integer from a number or a decimal string; NaN for anything else. */
function integer(value: unknown): number {
  if (typeof value === 'number') return Number.isInteger(value) ? value : NaN;
  const s = text(value);
  return /^-?\d+$/.test(s) ? Number(s) : NaN;
}

class Collector {
  readonly errors: OptionError[] = [];
  add(field: string, code: OptionErrorCode, params: Record<string, unknown> = {}): void {
    this.errors.push(Object.freeze({ code, field, params: Object.freeze(params), message: messageFor(code, params) }));
  }
}

function checkClientId(out: Collector, clientId: string): void {
  if (clientId.length > LIMITS.clientIdMax) out.add('clientId', 'CLIENT_ID_TOO_LONG', { max: LIMITS.clientIdMax });
  if (CLIENT_ID_FORBIDDEN.test(clientId) || CONTROL.test(clientId)) out.add('clientId', 'CLIENT_ID_CHARS');
}

function checkInteger(
  out: Collector,
  field: string,
  raw: unknown,
  fallback: number,
  min: number,
  max: number,
  code: BoundedField,
): number {
  if (text(raw) === '') return fallback;
  const n = integer(raw);
  if (Number.isNaN(n)) out.add(field, `${code}_NOT_INTEGER`, { min, max });
  else if (n < min || n > max) out.add(field, `${code}_RANGE`, { min, max });
  return n;
}

export function validateDeviceOptions(raw: RawDeviceOptions): ValidationResult {
  const out = new Collector();
  const productKey = text(raw.productKey);
  const deviceName = text(raw.deviceName);
  const deviceSecret = typeof raw.deviceSecret === 'string' ? raw.deviceSecret.trim() : '';

  if (!productKey) out.add('productKey', 'PRODUCT_KEY_MISSING');
  else if (PRODUCT_KEY_FORBIDDEN.test(productKey)) out.add('productKey', 'PRODUCT_KEY_CHARS');
  if (!deviceName) out.add('deviceName', 'DEVICE_NAME_MISSING');
  else if (deviceName.length > LIMITS.deviceNameMax)
    out.add('deviceName', 'DEVICE_NAME_TOO_LONG', { max: LIMITS.deviceNameMax });
  else if (!DEVICE_NAME_CHARS.test(deviceName)) out.add('deviceName', 'DEVICE_NAME_CHARS');
  if (!deviceSecret) out.add('deviceSecret', 'DEVICE_SECRET_MISSING');

  const endpoint = text(raw.endpoint) || DEFAULTS.endpoint;
  if (!isEndpointKind(endpoint)) out.add('endpoint', 'ENDPOINT_UNKNOWN', { value: endpoint });
  const regionId = text(raw.regionId) || DEFAULTS.regionId;
  if (endpoint === 'public' && !isRegion(regionId)) out.add('regionId', 'REGION_UNKNOWN', { value: regionId });
  const instanceId = text(raw.instanceId);
  if (endpoint === 'instance' && !INSTANCE_ID.test(instanceId)) out.add('instanceId', 'INSTANCE_ID_INVALID');
  const host = text(raw.host);
  if (endpoint === 'custom' && !host) out.add('host', 'HOST_MISSING');
  else if (endpoint === 'custom' && HOST_FORBIDDEN.test(host)) out.add('host', 'HOST_INVALID');

  const transport = text(raw.transport) || DEFAULTS.transport;
  if (!isTransport(transport)) out.add('transport', 'TRANSPORT_UNKNOWN', { value: transport });
  const port =
    text(raw.port) === '' ? undefined : checkInteger(out, 'port', raw.port, 0, LIMITS.portMin, LIMITS.portMax, 'PORT');
  const signmethod = text(raw.signmethod) || DEFAULTS.signmethod;
  if (!isSignMethod(signmethod)) out.add('signmethod', 'SIGN_METHOD_UNKNOWN', { value: signmethod });

  const clientId = text(raw.clientId) || `${productKey}.${deviceName}`;
  checkClientId(out, clientId);
  const keepalive = checkInteger(
    out,
    'keepalive',
    raw.keepalive,
    DEFAULTS.keepalive,
    LIMITS.keepaliveMin,
    LIMITS.keepaliveMax,
    'KEEPALIVE',
  );
  const queueSize = checkInteger(
    out,
    'queueSize',
    raw.queueSize,
    DEFAULTS.queueSize,
    0,
    LIMITS.queueSizeMax,
    'QUEUE_SIZE',
  );

  const ca = typeof raw.ca === 'string' ? raw.ca.trim() : '';
  if (ca && splitPem(ca).length === 0) out.add('ca', 'CA_INVALID');

  if (out.errors.length > 0) return Object.freeze({ ok: false, errors: Object.freeze(out.errors) });
  const options: DeviceOptions = {
    name: text(raw.name),
    productKey,
    deviceName,
    deviceSecret,
    endpoint: endpoint as EndpointKind,
    regionId,
    instanceId,
    host,
    port,
    transport: transport as Transport,
    signmethod: signmethod as SignMethod,
    clientId,
    keepalive,
    cleanSession: flag(raw.cleanSession, DEFAULTS.cleanSession),
    autoConnect: flag(raw.autoConnect, DEFAULTS.autoConnect),
    queueSize,
    ca,
    servername: text(raw.servername),
    rejectUnauthorized: flag(raw.rejectUnauthorized, DEFAULTS.rejectUnauthorized),
  };
  return Object.freeze({ ok: true, options: Object.freeze(options), errors: [] });
}

/** Publish and subscribe QoS: the platform supports 0 and 1 only. */
export function validateQos(value: unknown): OptionError | undefined {
  const n = integer(value);
  if (n === 0 || n === 1) return undefined;
  const out = new Collector();
  out.add('qos', 'QOS_INVALID', { value: String(value) });
  return out.errors[0];
}
