// Localized text for the core's error codes inside Node-RED: the config node's catalogue, in the
// runtime's language; the core's own en-US text when the runtime has no catalogue (test helper).
import type { NodeAPI } from 'node-red';
import { AliyunIotError, type ErrorCode } from '../lib/errors';
import { messageFor } from '../lib/messages';

/** The npm name (package.json's, checked by a test): Node-RED names a set's catalogue `<module>/<set>`. */
export const MODULE_NAME = '@iotflow/node-red-aliyun-iot';
export const DEVICE_NAMESPACE = `${MODULE_NAME}/aliyun-iot-device`;

export function localize(RED: NodeAPI, code: ErrorCode, params: Readonly<Record<string, unknown>> = {}): string {
  const key = `${DEVICE_NAMESPACE}:errors.${code}`;
  const text = RED._(key, params as Record<string, string>);
  return text === key || text === '' ? messageFor(code, params) : text;
}

/**
 * `code`: the platform's own code when it refused (401, 6289...), else the package's stable code;
 * `packageCode`: always the package's stable code (the same as `code` unless the platform refused).
 */
export type CodedError = Error & { code?: string | number; packageCode?: string };

/** The error a node passes to `done(err)`: localized message, the stable code kept. */
export function localizedError(RED: NodeAPI, err: unknown): CodedError {
  if (err instanceof AliyunIotError) {
    const out: CodedError = new Error(localize(RED, err.code, err.params));
    out.code = err.platformCode ?? err.code;
    out.packageCode = err.code;
    return out;
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** A value as it may appear inside an error message. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return 'undefined';
  try {
    return JSON.stringify(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

export function codedError(RED: NodeAPI, code: ErrorCode, params: Readonly<Record<string, unknown>> = {}): CodedError {
  return localizedError(RED, new AliyunIotError(code, params));
}
