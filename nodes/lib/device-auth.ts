// The platform's HTTPS device calls: auth for an MQTT token (PLATFORM.md §4) and dynamic
// registration (§5). The platform answers HTTP 200 with its own code in the body.
import { authHostOf, resolveEndpoint } from './endpoint';
import { AliyunIotError } from './errors';
import { postForm, type FormPostOptions, type HttpsTarget } from './https-form';
import type { DeviceOptions } from './options';
import { signAuth, signRegister } from './sign';

/** The platform's token lifetime; its answer does not say, so the client counts from the fetch. */
export const TOKEN_LIFETIME_MS = 7 * 24 * 3600 * 1000;

export interface DeviceToken {
  iotId: string;
  iotToken: string;
  /** Epoch ms; assumed from the platform's 7-day rule. */
  expiresAt: number;
  mqtt: { host: string; port: number };
}

export interface RegisteredDevice {
  productKey: string;
  deviceName: string;
  deviceSecret: string;
}

/** Platform codes with their own message; anything else is reported as PLATFORM_CODE. */
const KNOWN_CODES = new Set([401, 460, 500, 5001, 6200, 6288, 6289, 6292, 6600] as const);
type KnownCode = typeof KNOWN_CODES extends Set<infer C> ? C : never;
const isKnown = (code: number): code is KnownCode => KNOWN_CODES.has(code as KnownCode);
/** Codes that retrying soon cannot fix: the settings or the device's state must change first. */
const HARD_CODES = new Set([401, 460, 5001, 6200, 6288, 6289, 6292, 6600]);

export function platformError(code: number, message: string): AliyunIotError {
  return isKnown(code)
    ? new AliyunIotError(`PLATFORM_${code}`, { code }, code)
    : new AliyunIotError('PLATFORM_CODE', { code, message }, code);
}

/** Whether a failed login should back off like refused credentials rather than like a lost link. */
export function isHardFailure(err: unknown): boolean {
  if (!(err instanceof AliyunIotError)) return false;
  if (err.code.startsWith('REGISTER_REFUSED')) return true;
  return err.platformCode !== undefined && HARD_CODES.has(err.platformCode);
}

/** The HTTPS host with the device's TLS settings: the endpoint's CA list and verification choice. */
export function httpsTargetOf(options: DeviceOptions): HttpsTarget {
  const { host, port } = authHostOf(options);
  const ca = resolveEndpoint({ ...options, transport: 'tls' }).ca;
  return { host, port, ca, rejectUnauthorized: options.rejectUnauthorized, servername: options.servername };
}

function answerData(answer: Record<string, unknown>): Record<string, unknown> {
  const code = Number(answer.code);
  if (code !== 200)
    throw platformError(Number.isFinite(code) ? code : 0, typeof answer.message === 'string' ? answer.message : '');
  const data = answer.data;
  if (data === null || typeof data !== 'object') throw new AliyunIotError('HTTPS_NOT_JSON', {});
  return data as Record<string, unknown>;
}

function field(data: Record<string, unknown>, path: string): unknown {
  let value: unknown = data;
  for (const key of path.split('.')) value = (value as Record<string, unknown> | undefined)?.[key];
  return value;
}

function requireText(data: Record<string, unknown>, path: string): string {
  const value = field(data, path);
  if (typeof value !== 'string' || value === '') throw new AliyunIotError('AUTH_ANSWER_INVALID', { field: path });
  return value;
}

/** `POST /auth/devicename`: an iotId/iotToken pair and the MQTT host to use it on. */
export async function requestToken(
  options: DeviceOptions,
  http: FormPostOptions = {},
  now: () => number = Date.now,
): Promise<DeviceToken> {
  const form = signAuth({ ...options, timestamp: now() });
  const answer = await postForm(httpsTargetOf(options), '/auth/devicename', { ...form, resources: 'mqtt' }, http);
  const data = answerData(answer);
  const port = Number(field(data, 'resources.mqtt.port'));
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new AliyunIotError('AUTH_ANSWER_INVALID', { field: 'resources.mqtt.port' });
  return {
    iotId: requireText(data, 'iotId'),
    iotToken: requireText(data, 'iotToken'),
    expiresAt: now() + TOKEN_LIFETIME_MS,
    mqtt: { host: requireText(data, 'resources.mqtt.host'), port },
  };
}

/** `POST /auth/register/device`: the device secret of a pre-registered, not yet activated device. */
export async function registerOverHttps(options: DeviceOptions, http: FormPostOptions = {}): Promise<RegisteredDevice> {
  const form = signRegister({ ...options, signmethod: options.signmethod });
  const data = answerData(await postForm(httpsTargetOf(options), '/auth/register/device', { ...form }, http));
  return {
    productKey: options.productKey,
    deviceName: options.deviceName,
    deviceSecret: requireText(data, 'deviceSecret'),
  };
}
