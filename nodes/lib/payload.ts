// Payloads in and out: what a flow sends becomes bytes; what arrives becomes what the user asked for.
import { isUtf8 } from 'node:buffer';

export const MAX_PAYLOAD_BYTES = 256 * 1024;

export const OUTPUT_FORMATS = ['auto', 'json', 'string', 'buffer', 'base64'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Bytes on the wire, without copying a string into a Buffer. */
export function payloadBytes(payload: Buffer | string): number {
  return typeof payload === 'string' ? Buffer.byteLength(payload, 'utf8') : payload.length;
}

/** The platform's size limit; a short string is known to fit without counting its UTF-8 bytes. */
export function exceedsPayloadLimit(payload: Buffer | string): number | undefined {
  // A UTF-16 code unit is at most 3 bytes of UTF-8.
  if (typeof payload === 'string' && payload.length * 3 <= MAX_PAYLOAD_BYTES) return undefined;
  const size = payloadBytes(payload);
  return size > MAX_PAYLOAD_BYTES ? size : undefined;
}

export function isOutputFormat(value: unknown): value is OutputFormat {
  return typeof value === 'string' && (OUTPUT_FORMATS as readonly string[]).includes(value);
}

/** A JSON object (not an array, not a scalar) from text or bytes; undefined for anything else. */
export function parseJsonObject(text: Buffer | string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text.toString());
  } catch {
    return undefined;
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** JSON text of a value, or undefined when it has none (circular, BigInt inside, a function). */
export function toJson(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}

/**
 * Buffer as is, string as is (mqtt.js writes it as UTF-8), anything else as JSON text; undefined
 * when there is nothing to send.
 */
export function encodePayload(payload: unknown): Buffer | string | undefined {
  if (Buffer.isBuffer(payload) || typeof payload === 'string') return payload;
  if (payload === undefined || typeof payload === 'function' || typeof payload === 'symbol') return undefined;
  if (typeof payload === 'bigint') return payload.toString();
  return toJson(payload);
}

export type DecodeResult = { ok: true; value: unknown } | { ok: false };

/** `auto`: JSON if it parses, else text if it is UTF-8, else the Buffer. `json` fails on bad JSON. */
export function decodePayload(bytes: Buffer, format: OutputFormat): DecodeResult {
  switch (format) {
    case 'buffer':
      return { ok: true, value: bytes };
    case 'base64':
      return { ok: true, value: bytes.toString('base64') };
    case 'string':
      return { ok: true, value: bytes.toString('utf8') };
    case 'json':
      try {
        return { ok: true, value: JSON.parse(bytes.toString('utf8')) as unknown };
      } catch {
        return { ok: false };
      }
    case 'auto': {
      if (!isUtf8(bytes)) return { ok: true, value: bytes };
      const text = bytes.toString('utf8');
      const first = text.trimStart()[0];
      if (first === '{' || first === '[') {
        try {
          return { ok: true, value: JSON.parse(text) as unknown };
        } catch {
          return { ok: true, value: text };
        }
      }
      return { ok: true, value: text };
    }
  }
}
