// The platform's HMAC rule, written from PLATFORM.md §3-5 independently of the client's signer:
// parameters sorted by name, concatenated as name + value, HMAC'd with the secret, hex compared
// case-insensitively.
import { createHmac, timingSafeEqual } from 'node:crypto';

const HASHES: Readonly<Record<string, string>> = { hmacmd5: 'md5', hmacsha1: 'sha1', hmacsha256: 'sha256' };

/** SDKs spell the methods differently (`hmacsha1`, `hmacSha256`, `HmacMD5`): the case is ignored. */
export function isKnownSignMethod(method: string): boolean {
  return Object.hasOwn(HASHES, method.toLowerCase());
}

/** Hex HMAC over the sorted parameters; undefined for a sign method the platform does not know. */
export function platformSign(
  method: string,
  secret: string,
  params: Readonly<Record<string, string>>,
): string | undefined {
  const key = method.toLowerCase();
  const hash = Object.hasOwn(HASHES, key) ? HASHES[key] : undefined;
  if (!hash) return undefined;
  const content = Object.keys(params)
    .sort()
    .map((k) => k + (params[k] ?? ''))
    .join('');
  return createHmac(hash, secret).update(content).digest('hex');
}

export function sameHex(expected: string, given: string): boolean {
  const a = Buffer.from(expected.toLowerCase());
  const b = Buffer.from(given.toLowerCase());
  return a.length === b.length && timingSafeEqual(a, b);
}
