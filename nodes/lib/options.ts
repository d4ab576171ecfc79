// A device's settings, validated into one frozen, typed object or a list of precise errors, by the
// same rules (rules.ts) the editor shows as red fields.
import { messageFor } from './messages';
import {
  FIELDS,
  choiceOf,
  text,
  type AuthMode,
  type EndpointKind,
  type RawSettings,
  type RegisterKind,
  type RegisterVia,
  type SignMethod,
  type Transport,
} from './fields';
import { CHECKED_FIELDS, checkField, checkQos, integer, resolvedClientId, type OptionErrorCode } from './rules';

export { LIMITS, OPTION_ERROR_CODES, type OptionErrorCode } from './rules';

type Defaults = { readonly [K in keyof typeof FIELDS]: (typeof FIELDS)[K]['default'] };

/** Every field's default, from the one table (fields.ts) the editor reads too. */
export const DEFAULTS = Object.freeze(
  Object.fromEntries(Object.entries(FIELDS).map(([name, field]) => [name, field.default])),
) as Defaults;

export interface DeviceOptions {
  readonly name: string;
  readonly productKey: string;
  readonly deviceName: string;
  /** Blank in `register` mode until registration obtained it. */
  readonly deviceSecret: string;
  readonly authMode: AuthMode;
  readonly registerVia: RegisterVia;
  readonly registerKind: RegisterKind;
  /** Only for `register` mode. */
  readonly productSecret: string;
  /** The id of the gateway's config node for a sub-device; blank: the device connects directly. */
  readonly gateway: string;
  /** host[:port] of the HTTPS auth and registration calls; blank: derived from the endpoint. */
  readonly authHost: string;
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
  /** Upstream messages per second the connection paces to; 0 = unpaced. */
  readonly rateLimit: number;
  /** A gateway's pace for all its sub-devices' messages together; 0 = none. */
  readonly gatewayRateLimit: number;
  /** QoS 1 messages not yet acknowledged are kept on disk across restarts. */
  readonly persistQueue: boolean;
  readonly ca: string;
  readonly servername: string;
  readonly rejectUnauthorized: boolean;
  /**
   * Logs in with `ext=1` in the ClientId (PLATFORM.md §16.2): set by the config node when one of
   * the device's command nodes answers custom-topic RRPC, not a setting of its own.
   */
  readonly extRrpc: boolean;
}

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

export type RawDeviceOptions = RawSettings;

function optionError(field: string, code: OptionErrorCode, params: Readonly<Record<string, unknown>>): OptionError {
  return Object.freeze({ code, field, params: Object.freeze({ ...params }), message: messageFor(code, params) });
}

function flag(value: unknown, fallback: boolean): boolean {
  if (value === undefined || value === null || value === '') return fallback;
  return value === true || value === 'true';
}

function orDefault(raw: unknown, fallback: number): number {
  return text(raw) === '' ? fallback : integer(raw);
}

export function validateDeviceOptions(raw: RawDeviceOptions): ValidationResult {
  const errors = CHECKED_FIELDS.flatMap((field) =>
    checkField(field, raw).map((p) => optionError(field, p.code, p.params)),
  );
  if (errors.length > 0) return Object.freeze({ ok: false, errors: Object.freeze(errors) });
  const options: DeviceOptions = {
    name: text(raw.name),
    productKey: text(raw.productKey),
    deviceName: text(raw.deviceName),
    deviceSecret: text(raw.deviceSecret),
    authMode: choiceOf(raw, 'authMode') as AuthMode,
    registerVia: choiceOf(raw, 'registerVia') as RegisterVia,
    registerKind: choiceOf(raw, 'registerKind') as RegisterKind,
    productSecret: text(raw.productSecret),
    gateway: text(raw.gateway),
    authHost: text(raw.authHost),
    endpoint: choiceOf(raw, 'endpoint') as EndpointKind,
    regionId: choiceOf(raw, 'regionId'),
    instanceId: text(raw.instanceId),
    host: text(raw.host),
    port: text(raw.port) === '' ? undefined : integer(raw.port),
    transport: choiceOf(raw, 'transport') as Transport,
    signmethod: choiceOf(raw, 'signmethod') as SignMethod,
    clientId: resolvedClientId(raw),
    keepalive: orDefault(raw.keepalive, DEFAULTS.keepalive),
    cleanSession: flag(raw.cleanSession, DEFAULTS.cleanSession),
    autoConnect: flag(raw.autoConnect, DEFAULTS.autoConnect),
    queueSize: orDefault(raw.queueSize, DEFAULTS.queueSize),
    rateLimit: orDefault(raw.rateLimit, DEFAULTS.rateLimit),
    gatewayRateLimit: orDefault(raw.gatewayRateLimit, DEFAULTS.gatewayRateLimit),
    persistQueue: flag(raw.persistQueue, DEFAULTS.persistQueue),
    ca: text(raw.ca),
    servername: text(raw.servername),
    rejectUnauthorized: flag(raw.rejectUnauthorized, DEFAULTS.rejectUnauthorized),
    extRrpc: raw.extRrpc === true,
  };
  return Object.freeze({ ok: true, options: Object.freeze(options), errors: Object.freeze([]) });
}

/** Publish and subscribe QoS: the platform supports 0 and 1 only. */
export function validateQos(value: unknown): OptionError | undefined {
  const problem = checkQos(value);
  return problem && optionError('qos', problem.code, problem.params);
}
