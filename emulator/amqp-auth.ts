// The AMQP subscription's SASL PLAIN login (PLATFORM.md §17.1), checked from the platform's rule:
//   userName = {clientId}|authMode=aksign,signMethod=hmacsha1,timestamp={ms},authId={AccessKeyId},
//              iotInstanceId={id},consumerGroupId={group}|      (the parameters in any order)
//   password = base64(HMAC_{signMethod}(AccessKeySecret, "authId={AccessKeyId}&timestamp={ms}"))
// Choices where the rule is silent (UNVERIFIED): the timestamp must be digits but its age is not
// checked (no source gives a window); signMethod's case is ignored (as for devices, PLATFORM.md §10);
// an unknown extra parameter is ignored; a parameter given twice is refused.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Accounts } from './accounts';

export interface AmqpLogin {
  clientId: string;
  accessKeyId: string;
  consumerGroupId: string;
}

export type AmqpRefusal =
  | 'malformed'
  | 'client-id'
  | 'auth-mode'
  | 'sign-method'
  | 'timestamp'
  | 'unknown-access-key'
  | 'instance'
  | 'unknown-group'
  | 'signature';

export type AmqpLoginCheck = { ok: true; login: AmqpLogin } | { ok: false; reason: AmqpRefusal; clientId?: string };

const HASHES: Readonly<Record<string, string>> = { hmacmd5: 'md5', hmacsha1: 'sha1', hmacsha256: 'sha256' };
/** PLATFORM.md §17.1: clientId at most 64 characters. */
export const AMQP_CLIENT_ID_MAX = 64;

/** `{clientId}|k=v,k=v|`: the clientId and the parameters; undefined when it is not that shape. */
export function parseAmqpUserName(userName: string): { clientId: string; params: Map<string, string> } | undefined {
  if (!userName.endsWith('|')) return undefined;
  const bar = userName.lastIndexOf('|', userName.length - 2);
  if (bar < 0) return undefined;
  const params = new Map<string, string>();
  for (const pair of userName.slice(bar + 1, -1).split(',')) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    if (!key || params.has(key)) return undefined;
    params.set(key, eq < 0 ? '' : pair.slice(eq + 1));
  }
  return { clientId: userName.slice(0, bar), params };
}

/**
 * The instance ID a login names must be the emulator's; on an old public instance (none set) it is
 * absent, empty, or the two quote characters the Node sample sends (`iotInstanceId=""`, PLATFORM.md §17.1).
 */
function instanceMatches(accounts: Accounts, given: string | undefined): boolean {
  if (accounts.iotInstanceId !== undefined) return given === accounts.iotInstanceId;
  return given === undefined || given === '' || given === '""';
}

function sameBase64(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function checkAmqpLogin(accounts: Accounts, userName: string, password: string): AmqpLoginCheck {
  const parsed = parseAmqpUserName(userName);
  if (!parsed) return { ok: false, reason: 'malformed' };
  const { clientId, params } = parsed;
  const refuse = (reason: AmqpRefusal): AmqpLoginCheck => ({ ok: false, reason, clientId });
  if (!clientId || clientId.length > AMQP_CLIENT_ID_MAX) return { ok: false, reason: 'client-id' };
  if (params.get('authMode') !== 'aksign') return refuse('auth-mode');
  const hash = HASHES[(params.get('signMethod') ?? '').toLowerCase()];
  if (!hash) return refuse('sign-method');
  const timestamp = params.get('timestamp') ?? '';
  if (!/^\d+$/.test(timestamp)) return refuse('timestamp');
  const accessKeyId = params.get('authId') ?? '';
  const secret = accessKeyId ? accounts.secretOf(accessKeyId) : undefined;
  if (secret === undefined) return refuse('unknown-access-key');
  if (!instanceMatches(accounts, params.get('iotInstanceId'))) return refuse('instance');
  const consumerGroupId = params.get('consumerGroupId') ?? '';
  if (!accounts.hasGroup(consumerGroupId)) return refuse('unknown-group');
  // The two signed parameters sorted by name, `k=v` joined by `&`; the HMAC in base64, not hex.
  const expected = createHmac(hash, secret).update(`authId=${accessKeyId}&timestamp=${timestamp}`).digest('base64');
  if (!sameBase64(expected, password)) return refuse('signature');
  return { ok: true, login: { clientId, accessKeyId, consumerGroupId } };
}
