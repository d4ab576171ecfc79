// An application's account settings (the aliyun-iot-account config node), validated into one
// frozen object or a list of precise errors: the AccessKey, where the OpenAPI and the AMQP
// subscription are (PLATFORM.md §17), and the TLS rules, which stay strict unless the user says.
import { defaultCAs, splitPem } from '../ca';
import type { ErrorCode } from '../errors';
import { messageFor } from '../messages';
import { INSTANCE_ID } from '../rules';

export interface AccountOptions {
  readonly name: string;
  readonly accessKeyId: string;
  readonly accessKeySecret: string;
  readonly regionId: string;
  /** Blank on an old public instance. */
  readonly iotInstanceId: string;
  /** The Alibaba Cloud account ID: names the AMQP host of an old public instance. */
  readonly accountId: string;
  readonly api: { readonly host: string; readonly port: number };
  /** Undefined when neither an instance ID, an account ID nor a custom host says where it is. */
  readonly amqp: { readonly host: string; readonly port: number } | undefined;
  readonly tls: { readonly ca: readonly string[]; readonly rejectUnauthorized: boolean; readonly servername: string };
}

export interface AccountError {
  readonly code: ErrorCode;
  readonly field: string;
  readonly params: Readonly<Record<string, unknown>>;
  readonly message: string;
}

export type AccountValidation =
  | { readonly ok: true; readonly options: AccountOptions; readonly errors: readonly AccountError[] }
  | { readonly ok: false; readonly options?: undefined; readonly errors: readonly AccountError[] };

export const DEFAULT_REGION = 'cn-shanghai';
export const AMQP_PORT = 5671;
const HTTPS_PORT = 443;

/** What the editor and a flow file store; credentials merged in. */
export interface RawAccountOptions {
  name?: unknown;
  accessKeyId?: unknown;
  accessKeySecret?: unknown;
  regionId?: unknown;
  iotInstanceId?: unknown;
  accountId?: unknown;
  apiUrl?: unknown;
  amqpHost?: unknown;
  amqpPort?: unknown;
  ca?: unknown;
  servername?: unknown;
  rejectUnauthorized?: unknown;
}

// An AccessKey ID is letters and digits (LTAI…); a region and a host are DNS labels.
const ACCESS_KEY_ID = /^[A-Za-z0-9]{1,128}$/;
const REGION = /^[a-z]{2,}(-[a-z0-9]+)+$/;
const ACCOUNT_ID = /^\d{1,32}$/;
const HOST = /^[A-Za-z0-9.-]{1,253}$|^\[?[0-9A-Fa-f:]+\]?$/;

function text(value: unknown): string {
  return typeof value === 'string' ? value.trim() : typeof value === 'number' ? String(value) : '';
}

function problem(field: string, code: ErrorCode, params: Record<string, unknown> = {}): AccountError {
  return Object.freeze({ code, field, params: Object.freeze(params), message: messageFor(code, params) });
}

/** `https://host[:port][/]`: the OpenAPI's own address or a proxy; nothing else goes in a URL here. */
function apiAddress(url: string, regionId: string): { host: string; port: number } | undefined {
  if (url === '') return { host: `iot.${regionId}.aliyuncs.com`, port: HTTPS_PORT };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'https:' || parsed.username || parsed.password || parsed.search || parsed.hash)
    return undefined;
  if (parsed.pathname !== '/' && parsed.pathname !== '') return undefined;
  return { host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'), port: parsed.port ? Number(parsed.port) : HTTPS_PORT };
}

function amqpHostOf(custom: string, iotInstanceId: string, accountId: string, regionId: string): string | undefined {
  if (custom) return custom;
  if (iotInstanceId) return `${iotInstanceId}.amqp.iothub.aliyuncs.com`;
  if (accountId) return `${accountId}.iot-amqp.${regionId}.aliyuncs.com`;
  return undefined;
}

export function validateAccountOptions(raw: RawAccountOptions): AccountValidation {
  const errors: AccountError[] = [];
  const accessKeyId = text(raw.accessKeyId);
  const accessKeySecret = typeof raw.accessKeySecret === 'string' ? raw.accessKeySecret : '';
  const regionId = text(raw.regionId) || DEFAULT_REGION;
  const iotInstanceId = text(raw.iotInstanceId);
  const accountId = text(raw.accountId);
  const amqpHost = text(raw.amqpHost);
  const amqpPortText = text(raw.amqpPort);
  const ca = text(raw.ca);

  if (accessKeyId === '') errors.push(problem('accessKeyId', 'ACCESS_KEY_ID_MISSING'));
  else if (!ACCESS_KEY_ID.test(accessKeyId)) errors.push(problem('accessKeyId', 'ACCESS_KEY_ID_INVALID'));
  // The secret is never quoted back, not even in part.
  if (accessKeySecret === '') errors.push(problem('accessKeySecret', 'ACCESS_KEY_SECRET_MISSING'));
  if (!REGION.test(regionId)) errors.push(problem('regionId', 'REGION_INVALID', { value: regionId }));
  if (iotInstanceId && !INSTANCE_ID.test(iotInstanceId))
    errors.push(problem('iotInstanceId', 'INSTANCE_ID_INVALID', { value: iotInstanceId }));
  if (accountId && !ACCOUNT_ID.test(accountId))
    errors.push(problem('accountId', 'ACCOUNT_ID_INVALID', { value: accountId }));
  const api = apiAddress(text(raw.apiUrl), regionId);
  if (!api) errors.push(problem('apiUrl', 'API_URL_INVALID', { value: text(raw.apiUrl) }));
  if (amqpHost && !HOST.test(amqpHost)) errors.push(problem('amqpHost', 'HOST_INVALID', { value: amqpHost }));
  const amqpPort = amqpPortText === '' ? AMQP_PORT : Number(amqpPortText);
  if (!Number.isInteger(amqpPort) || amqpPort < 1 || amqpPort > 65535)
    errors.push(problem('amqpPort', 'PORT_NOT_INTEGER', { min: 1, max: 65535 }));
  const userCa = splitPem(ca);
  if (ca && userCa.length === 0) errors.push(problem('ca', 'CA_INVALID'));
  if (errors.length > 0 || !api) return Object.freeze({ ok: false, errors: Object.freeze(errors) });

  const host = amqpHostOf(amqpHost, iotInstanceId, accountId, regionId);
  const options: AccountOptions = {
    name: text(raw.name),
    accessKeyId,
    accessKeySecret,
    regionId,
    iotInstanceId,
    accountId,
    api: Object.freeze(api),
    amqp: host === undefined ? undefined : Object.freeze({ host, port: amqpPort }),
    tls: Object.freeze({
      // A CA the user gave is the only one trusted (the emulator's, a proxy's); else the public roots.
      ca: Object.freeze(userCa.length > 0 ? userCa : [...defaultCAs()]),
      rejectUnauthorized: raw.rejectUnauthorized !== false && raw.rejectUnauthorized !== 'false',
      servername: text(raw.servername),
    }),
  };
  return Object.freeze({ ok: true, options: Object.freeze(options), errors: Object.freeze([]) });
}
