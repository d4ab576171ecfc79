// Signing for the IoT Platform: MQTT CONNECT credentials (PLATFORM.md §3), the HTTPS device-auth
// sign (§4) and the dynamic-registration sign (§5). Pure functions over node:crypto.
import { createHmac, randomBytes } from 'node:crypto';
import { isSignMethod } from './rules';
import { FIELDS, type SignMethod } from './fields';

export { isSignMethod } from './rules';
export { SIGN_METHODS, type SignMethod } from './fields';
export const DEFAULT_SIGN_METHOD: SignMethod = FIELDS.signmethod.default;

const DIGEST: Record<SignMethod, string> = {
  hmacsha256: 'sha256',
  hmacsha1: 'sha1',
  hmacmd5: 'md5',
};

/** Lower-case hex HMAC of `content` keyed by `secret`; the platform compares hex case-insensitively. */
export function hmacHex(signmethod: SignMethod, secret: string, content: string): string {
  if (!isSignMethod(signmethod)) throw new TypeError(`Unknown signmethod: ${String(signmethod)}`);
  return createHmac(DIGEST[signmethod], secret).update(content, 'utf8').digest('hex');
}

/** The signed content: parameters sorted by key name, each as key + value, no separators. */
export function signContent(params: Readonly<Record<string, string | number | undefined>>): string {
  return Object.keys(params)
    .filter((key) => params[key] !== undefined)
    .sort()
    .map((key) => `${key}${String(params[key])}`)
    .join('');
}

export interface MqttSignInput {
  productKey: string;
  deviceName: string;
  deviceSecret: string;
  /** The part of mqttClientId before `|`; defaults to `${productKey}.${deviceName}`. */
  clientId?: string;
  signmethod?: SignMethod;
  /** 2 for TLS and WSS, 3 for TCP and WS. */
  securemode?: number | string;
  /** Left out of both the ext and the signed content when absent. */
  timestamp?: number | string;
  /** Further ext keys (`_v`, `lan`, `gw`...), appended after the signed ones. */
  ext?: Readonly<Record<string, string | number>>;
}

export interface MqttCredentials {
  clientId: string;
  username: string;
  password: string;
}

const EXT_UNSAFE = /[|,=\s]/;

function extPair(key: string, value: string | number): string {
  const text = String(value);
  if (EXT_UNSAFE.test(key) || EXT_UNSAFE.test(text) || key === '') {
    throw new TypeError(`Invalid ext entry: ${key}`);
  }
  return `${key}=${text}`;
}

/** MQTT CONNECT clientId, username and password for direct ("sign") login. */
export function signMqtt(input: MqttSignInput): MqttCredentials {
  const signmethod = input.signmethod ?? DEFAULT_SIGN_METHOD;
  const clientId = input.clientId || `${input.productKey}.${input.deviceName}`;
  const timestamp = input.timestamp === undefined || input.timestamp === '' ? undefined : String(input.timestamp);
  const securemode = input.securemode ?? 2;
  const ext = [extPair('securemode', securemode), extPair('signmethod', signmethod)];
  if (timestamp !== undefined) ext.push(extPair('timestamp', timestamp));
  for (const [key, value] of Object.entries(input.ext ?? {})) {
    if (key === 'securemode' || key === 'signmethod' || key === 'timestamp') continue;
    ext.push(extPair(key, value));
  }
  const content = signContent({
    clientId,
    deviceName: input.deviceName,
    productKey: input.productKey,
    timestamp,
  });
  return {
    clientId: `${clientId}|${ext.join(',')}|`,
    username: `${input.deviceName}&${input.productKey}`,
    password: hmacHex(signmethod, input.deviceSecret, content),
  };
}

export interface AuthSignInput {
  productKey: string;
  deviceName: string;
  deviceSecret: string;
  clientId?: string;
  signmethod?: SignMethod;
  timestamp?: number | string;
}

/** The form fields of `POST /auth/devicename`, `sign` included (resources and version are the caller's). */
export interface AuthSignedForm {
  productKey: string;
  deviceName: string;
  clientId: string;
  timestamp?: string;
  signmethod: SignMethod;
  sign: string;
}

/** HTTPS device-auth sign: HMAC over the sorted parameters except sign, signmethod, resources, version. */
export function signAuth(input: AuthSignInput): AuthSignedForm {
  const signmethod = input.signmethod ?? DEFAULT_SIGN_METHOD;
  const clientId = input.clientId || `${input.productKey}.${input.deviceName}`;
  const timestamp = input.timestamp === undefined || input.timestamp === '' ? undefined : String(input.timestamp);
  const signed = { productKey: input.productKey, deviceName: input.deviceName, clientId, timestamp };
  const sign = hmacHex(signmethod, input.deviceSecret, signContent(signed));
  return timestamp === undefined
    ? { productKey: input.productKey, deviceName: input.deviceName, clientId, signmethod, sign }
    : { ...signed, timestamp, signmethod, sign };
}

export interface RegisterSignInput {
  productKey: string;
  deviceName: string;
  productSecret: string;
  /** A fresh random string when absent. */
  random?: string;
  signmethod?: SignMethod;
}

/** The form fields of `POST /auth/register/device`; note the platform spells this one `signMethod`. */
export interface RegisterSignedForm {
  productKey: string;
  deviceName: string;
  random: string;
  signMethod: SignMethod;
  sign: string;
}

/** Dynamic-registration sign: HMAC(productSecret, deviceName…productKey…random…). */
export function signRegister(input: RegisterSignInput): RegisterSignedForm {
  const signMethod = input.signmethod ?? DEFAULT_SIGN_METHOD;
  const random = input.random || randomBytes(12).toString('base64url');
  const content = signContent({ deviceName: input.deviceName, productKey: input.productKey, random });
  return {
    productKey: input.productKey,
    deviceName: input.deviceName,
    random,
    signMethod,
    sign: hmacHex(signMethod, input.productSecret, content),
  };
}
