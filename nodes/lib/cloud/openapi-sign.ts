// The OpenAPI's RPC signature, version 1.0 (PLATFORM.md §17.2): sorted parameters, RFC 3986
// percent-encoding, HMAC-SHA1 keyed with the AccessKey secret and "&". Pure: the nonce and the
// time come from the caller, so the same inputs always give the same signature.
import { createHmac } from 'node:crypto';

export const OPENAPI_VERSION = '2018-01-20';

/**
 * RFC 3986 percent-encoding of UTF-8: only `A-Z a-z 0-9 - _ . ~` stay as they are.
 * encodeURIComponent leaves `! ' ( ) *` alone, which the platform's signature does not.
 */
export function percentEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `k=v&k=v`, names sorted by their code units as the platform sorts them, both sides encoded. */
export function canonicalQuery(params: Readonly<Record<string, string>>): string {
  return Object.entries(params)
    .filter(([k]) => k !== 'Signature')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`)
    .join('&');
}

export function stringToSign(method: 'GET' | 'POST', params: Readonly<Record<string, string>>): string {
  return `${method}&${percentEncode('/')}&${percentEncode(canonicalQuery(params))}`;
}

/** base64 HMAC-SHA1 of the string to sign, keyed with `AccessKeySecret + "&"`. */
export function rpcSignature(
  method: 'GET' | 'POST',
  params: Readonly<Record<string, string>>,
  accessKeySecret: string,
): string {
  return createHmac('sha1', `${accessKeySecret}&`).update(stringToSign(method, params)).digest('base64');
}

/** `2026-12-03T06:04:51Z`: UTC, seconds, no fraction. */
export function rpcTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export interface RpcCall {
  action: string;
  /** The action's own parameters, already strings. */
  params: Readonly<Record<string, string>>;
  accessKeyId: string;
  accessKeySecret: string;
  regionId: string;
  /** Named on every call when the instance has an ID. */
  iotInstanceId?: string;
  nonce: string;
  timestampMs: number;
  method?: 'GET' | 'POST';
}

/** Every parameter of the request, common ones and `Signature` included. */
export function signRpcCall(call: RpcCall): Record<string, string> {
  const params: Record<string, string> = {
    ...call.params,
    Action: call.action,
    Format: 'JSON',
    Version: OPENAPI_VERSION,
    AccessKeyId: call.accessKeyId,
    SignatureMethod: 'HMAC-SHA1',
    SignatureVersion: '1.0',
    SignatureNonce: call.nonce,
    Timestamp: rpcTimestamp(call.timestampMs),
    RegionId: call.regionId,
  };
  if (call.iotInstanceId) params.IotInstanceId = call.iotInstanceId;
  params.Signature = rpcSignature(call.method ?? 'POST', params, call.accessKeySecret);
  return params;
}
