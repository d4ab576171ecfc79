// HTTPS device authentication (PLATFORM.md §4) and dynamic registration (§5), answered as the
// platform answers: HTTP 200 with the platform's own code in the JSON body.
import { randomBytes } from 'node:crypto';
import { isKnownSignMethod, platformSign, sameHex } from './hmac';
import type { Registry } from './registry';

export interface PlatformAnswer {
  code: number;
  message: string;
  data?: Record<string, unknown>;
}

const PARAMETER_ERROR: PlatformAnswer = { code: 460, message: 'request parameter error' };
/** Fields of /auth/devicename that are not signed. */
const UNSIGNED = new Set(['sign', 'signmethod', 'signMethod', 'resources', 'version']);

/** The form field naming the sign method: SDKs send it as `signmethod` or `signMethod`. */
function signMethodOf(form: URLSearchParams): string {
  return form.get('signmethod') ?? form.get('signMethod') ?? 'hmacmd5';
}

export function authDevice(
  registry: Registry,
  form: URLSearchParams,
  mqtt: { host: string; port: number },
): PlatformAnswer {
  const productKey = form.get('productKey');
  const deviceName = form.get('deviceName');
  const sign = form.get('sign');
  if (!productKey || !deviceName || !form.get('clientId') || !sign) return PARAMETER_ERROR;
  const signmethod = signMethodOf(form);
  if (!isKnownSignMethod(signmethod)) return PARAMETER_ERROR;
  const device = registry.device(productKey, deviceName);
  if (!device?.deviceSecret) {
    registry.refuse(device, 'https-device-not-found');
    return { code: 5001, message: 'device not found' };
  }
  const signed: Record<string, string> = {};
  for (const [key, value] of form) if (!UNSIGNED.has(key)) signed[key] = value;
  if (!sameHex(platformSign(signmethod, device.deviceSecret, signed) ?? '', sign)) {
    registry.refuse(device, 'https-bad-signature');
    return { code: 401, message: 'signature mismatch' };
  }
  const token = registry.issueToken(device);
  return {
    code: 200,
    message: 'success',
    data: { iotId: token.iotId, iotToken: token.iotToken, resources: { mqtt } },
  };
}

export function registerDevice(registry: Registry, form: URLSearchParams): PlatformAnswer {
  const productKey = form.get('productKey');
  const deviceName = form.get('deviceName');
  const random = form.get('random');
  const sign = form.get('sign');
  if (!productKey || !deviceName || !random || !sign) return PARAMETER_ERROR;
  const productSecret = registry.product(productKey)?.productSecret;
  if (!productSecret) return { code: 6288, message: 'dynamic registration is not enabled for this product' };
  const signMethod = signMethodOf(form);
  if (!isKnownSignMethod(signMethod)) return { code: 6292, message: 'sign method not supported' };
  const expected = platformSign(signMethod, productSecret, { deviceName, productKey, random }) ?? '';
  if (!sameHex(expected, sign)) return { code: 6600, message: 'signature check failed' };
  const device = registry.device(productKey, deviceName);
  if (!device) return { code: 5001, message: 'device not found' };
  if (device.activated) return { code: 6289, message: 'device is already activated' };
  // Until the device logs in, registering again is allowed and issues a new secret.
  device.deviceSecret = randomBytes(16).toString('hex');
  device.counters.registrations++;
  registry.changed();
  return { code: 200, message: 'success', data: { productKey, deviceName, deviceSecret: device.deviceSecret } };
}
