// The platform's CONNECT check (PLATFORM.md §3-4), written from the rules, not from the client's
// signer, so the two check each other.
import { randomBytes } from 'node:crypto';
import { isKnownSignMethod, platformSign, sameHex } from './hmac';
import type { DeviceRecord, Registry } from './registry';

export type EmulatorTransport = 'tcp' | 'tls' | 'ws' | 'wss';

export interface LoginRequest {
  mqttClientId: string;
  username: string | undefined;
  password: Buffer | undefined;
  keepalive: number;
  transport: EmulatorTransport;
}

/** What the platform pushes to a registration session before it hangs up. */
export interface RegistrationPush {
  topic: '/ext/register' | '/ext/regnwl';
  payload: Record<string, string>;
}

export type LoginResult =
  | { ok: true; device: DeviceRecord; via: 'sign' | 'token' | 'connwl' }
  | { ok: true; device: DeviceRecord; via: 'register' | 'regnwl'; push: RegistrationPush }
  | { ok: false; returnCode: 2 | 3 | 4 | 5; reason: string; device?: DeviceRecord };

const SECUREMODE: Record<EmulatorTransport, string> = { tcp: '3', ws: '3', tls: '2', wss: '2' };
const SECURE = new Set<EmulatorTransport>(['tls', 'wss']);
const CLIENT_ID_MAX = 64;
const KEEPALIVE_MIN = 30;

interface ParsedClientId {
  clientId: string;
  ext: Map<string, string> | undefined;
}

/** `clientId|k=v,k=v|` strictly, or a bare clientId (token logins). Undefined when malformed. */
export function parseMqttClientId(mqttClientId: string): ParsedClientId | undefined {
  const parts = mqttClientId.split('|');
  if (parts.length === 1) return { clientId: mqttClientId, ext: undefined };
  if (parts.length !== 3 || parts[2] !== '') return undefined;
  const ext = new Map<string, string>();
  for (const pair of (parts[1] ?? '').split(',')) {
    const kv = pair.split('=');
    if (kv.length !== 2 || !kv[0] || ext.has(kv[0])) return undefined;
    ext.set(kv[0], kv[1] ?? '');
  }
  return { clientId: parts[0] ?? '', ext };
}

function refuse(returnCode: 2 | 3 | 4 | 5, reason: string, device?: DeviceRecord): LoginResult {
  return device ? { ok: false, returnCode, reason, device } : { ok: false, returnCode, reason };
}

export function checkLogin(registry: Registry, req: LoginRequest, now = Date.now()): LoginResult {
  const username = req.username ?? '';
  const password = req.password?.toString('utf8') ?? '';
  const parsed = parseMqttClientId(req.mqttClientId);
  const token = username.includes('&') ? undefined : registry.token(username);
  const device = token?.device ?? deviceOf(registry, username);

  if (!parsed) return refuse(3, 'bad-ext', device);
  if (parsed.clientId === '' || parsed.clientId.length > CLIENT_ID_MAX) return refuse(2, 'bad-client-id', device);
  const authType = parsed.ext?.get('authType');
  // Registration sessions skip the keepalive check (the platform ignores it there).
  if (authType === 'register' || authType === 'regnwl') return checkRegistration(registry, req, parsed, authType);
  if (req.keepalive < KEEPALIVE_MIN) return refuse(3, 'bad-keepalive', device);
  if (authType === 'connwl') return checkConnwl(req, parsed, device);
  if (authType !== undefined) return refuse(3, 'bad-auth-type', device);

  if (token) {
    if (token.iotToken !== password || token.expiresAt <= now) return refuse(3, 'bad-token', token.device);
    return { ok: true, device: token.device, via: 'token' };
  }
  if (!device) return refuse(4, 'unknown-device');
  const ext = parsed.ext;
  if (!ext) return refuse(3, 'bad-ext', device);
  if (ext.get('securemode') !== SECUREMODE[req.transport]) return refuse(3, 'securemode-mismatch', device);
  const signmethod = ext.get('signmethod') ?? 'hmacmd5';
  if (!isKnownSignMethod(signmethod)) return refuse(3, 'bad-signmethod', device);
  if (device.deviceSecret === undefined) return refuse(5, 'not-activated', device);

  const params: Record<string, string> = {
    clientId: parsed.clientId,
    deviceName: device.deviceName,
    productKey: device.productKey,
  };
  const timestamp = ext.get('timestamp');
  if (timestamp !== undefined) params.timestamp = timestamp;
  const expected = platformSign(signmethod, device.deviceSecret, params) ?? '';
  if (!sameHex(expected, password)) return refuse(4, 'bad-signature', device);
  return { ok: true, device, via: 'sign' };
}

function deviceOf(registry: Registry, username: string): DeviceRecord | undefined {
  const parts = username.split('&');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
  return registry.device(parts[1], parts[0]);
}

/** `authType=register` (pre-registered) and `regnwl` (registration-free): PLATFORM.md §5. */
function checkRegistration(
  registry: Registry,
  req: LoginRequest,
  parsed: ParsedClientId,
  authType: 'register' | 'regnwl',
): LoginResult {
  const ext = parsed.ext ?? new Map<string, string>();
  const [deviceName, productKey] = (req.username ?? '').split('&');
  if (!deviceName || !productKey) return refuse(4, 'bad-username');
  let device = registry.device(productKey, deviceName);
  if (!SECURE.has(req.transport)) return refuse(3, 'register-needs-tls', device);
  if (ext.get('securemode') !== (authType === 'register' ? '2' : '-2')) return refuse(3, 'securemode-mismatch', device);
  const random = ext.get('random');
  const signmethod = ext.get('signmethod') ?? 'hmacmd5';
  if (!random || !isKnownSignMethod(signmethod)) return refuse(3, 'bad-ext', device);
  const productSecret = registry.product(productKey)?.productSecret;
  if (!productSecret) return refuse(4, 'registration-disabled', device);
  const expected = platformSign(signmethod, productSecret, { deviceName, productKey, random }) ?? '';
  if (!sameHex(expected, req.password?.toString('utf8') ?? '')) return refuse(4, 'bad-register-signature', device);
  if (authType === 'register') {
    if (!device) return refuse(4, 'unknown-device');
    if (device.activated) return refuse(5, 'already-activated', device);
    device.deviceSecret = randomBytes(16).toString('hex');
    device.counters.registrations++;
    registry.changed();
    const payload = { productKey, deviceName, deviceSecret: device.deviceSecret };
    return { ok: true, device, via: 'register', push: { topic: '/ext/register', payload } };
  }
  // Registration-free: the platform creates the device on its first registration.
  device ??= registry.addDevice({ productKey, deviceName });
  device.registrationFree = { clientId: randomBytes(8).toString('hex'), deviceToken: randomBytes(16).toString('hex') };
  device.counters.registrations++;
  registry.changed();
  const payload = { productKey, deviceName, ...device.registrationFree };
  return { ok: true, device, via: 'regnwl', push: { topic: '/ext/regnwl', payload } };
}

/** `authType=connwl`: a registration-free device logging in with its token. */
function checkConnwl(req: LoginRequest, parsed: ParsedClientId, device: DeviceRecord | undefined): LoginResult {
  if (!device) return refuse(4, 'unknown-device');
  if (!SECURE.has(req.transport)) return refuse(3, 'connwl-needs-tls', device);
  if (parsed.ext?.get('securemode') !== '-2') return refuse(3, 'securemode-mismatch', device);
  const issued = device.registrationFree;
  if (!issued || issued.clientId !== parsed.clientId) return refuse(4, 'bad-client-id', device);
  if (!sameHex(issued.deviceToken, req.password?.toString('utf8') ?? '')) return refuse(4, 'bad-device-token', device);
  return { ok: true, device, via: 'connwl' };
}
