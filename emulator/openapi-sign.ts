// The OpenAPI's request verification (RPC style, signature version 1.0, PLATFORM.md §17.2): the
// signature, the request time and the nonce. Written from the rules, not from any client:
// - the parameters but `Signature`, sorted by name, names and values percent-encoded by RFC 3986
//   (UTF-8; `A-Z a-z 0-9 - _ . ~` kept, everything else `%XX` in upper case: space `%20`, `*` `%2A`),
//   joined `k=v` with `&`;
// - `StringToSign = METHOD + "&" + enc("/") + "&" + enc(canonical)`;
// - `Signature = base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))`.
// `Timestamp` is `YYYY-MM-DDThh:mm:ssZ` (UTC); `SignatureNonce` is unique per request.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** RFC 3986 percent-encoding of a string's UTF-8 bytes (PLATFORM.md §17.2). */
export function percentEncode(value: string): string {
  // encodeURIComponent keeps ! ' ( ) * besides the unreserved set; RFC 3986 does not.
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The canonicalized query string: every pair but `Signature`, sorted by name (UTF-16 code units). */
export function canonicalQuery(params: ReadonlyMap<string, string>): string {
  return [...params.keys()]
    .filter((name) => name !== 'Signature')
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((name) => `${percentEncode(name)}=${percentEncode(params.get(name) ?? '')}`)
    .join('&');
}

export function stringToSign(method: string, params: ReadonlyMap<string, string>): string {
  return `${method.toUpperCase()}&${percentEncode('/')}&${percentEncode(canonicalQuery(params))}`;
}

/** The signature the platform computes for these parameters. */
export function rpcSignature(method: string, params: ReadonlyMap<string, string>, accessKeySecret: string): string {
  return createHmac('sha1', `${accessKeySecret}&`).update(stringToSign(method, params), 'utf8').digest('base64');
}

/**
 * True when `given` is the signature of these parameters, compared in constant time. A `+` of the
 * base64 that reached us as a space (left unencoded in a query string, read as a form) is taken
 * back as `+` (forgiving: the bytes signed are the same).
 */
export function signatureMatches(
  method: string,
  params: ReadonlyMap<string, string>,
  accessKeySecret: string,
  given: string,
): boolean {
  const expected = Buffer.from(rpcSignature(method, params, accessKeySecret), 'utf8');
  const presented = Buffer.from(given.replace(/ /g, '+'), 'utf8');
  return presented.length === expected.length && timingSafeEqual(presented, expected);
}

/**
 * Milliseconds of a `YYYY-MM-DDThh:mm:ssZ` timestamp; undefined when it is not one. Fractions of a
 * second (`…:ss.SSSZ`) are taken too (forgiving: no rule says they are refused).
 */
export function parseTimestamp(value: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?Z$/.exec(value);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second, Number((m[7] ?? '0').padEnd(3, '0')));
  const back = new Date(ms);
  // 2024-02-30 and 25:00 roll over in Date.UTC: not a timestamp.
  if (back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day || back.getUTCHours() !== hour) return undefined;
  return ms;
}

/**
 * The nonces seen per AccessKey within a window: a nonce used again inside it is refused. Kept in
 * arrival order, so expired ones are dropped from the front as new ones come.
 */
export class NonceBook {
  private readonly seen = new Map<string, number>();

  constructor(private readonly windowMs: number) {}

  /** Records the nonce; false when this AccessKey used it within the window. */
  use(accessKeyId: string, nonce: string, now = Date.now()): boolean {
    for (const [key, until] of this.seen) {
      if (until > now) break;
      this.seen.delete(key);
    }
    const key = `${accessKeyId}\n${nonce}`;
    const until = this.seen.get(key);
    if (until !== undefined && until > now) return false;
    // Re-inserted at the end, where its new expiry belongs.
    this.seen.delete(key);
    this.seen.set(key, now + this.windowMs);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }
}
