// The platform's CONNECT check (PLATFORM.md §3-4), written from the rules, not from the client's
// signer, so the two check each other.
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

export type LoginResult =
  | { ok: true; device: DeviceRecord; via: 'sign' | 'token' }
  | { ok: false; returnCode: 2 | 3 | 4 | 5; reason: string; device?: DeviceRecord };

const SECUREMODE: Record<EmulatorTransport, string> = { tcp: '3', ws: '3', tls: '2', wss: '2' };
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
  if (req.keepalive < KEEPALIVE_MIN) return refuse(3, 'bad-keepalive', device);

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
