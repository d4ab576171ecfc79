// The cloud side of the device shadow over HTTP, what the OpenAPI's GetDeviceShadow and
// UpdateDeviceShadow do (DOC:69954 https://help.aliyun.com/document_detail/69954.html; GetDeviceShadow
// https://www.alibabacloud.com/help/es/iot/developer-reference/api-fb20ad):
//   GET  /api/devices/{pk}/{dn}/shadow   the document {state: {reported, desired}, metadata, version, timestamp}
//   POST /api/devices/{pk}/{dn}/shadow   {desired, version?, deltaUpdate?}: writes desired, then pushes
//        `control` on /shadow/get/{pk}/{dn} at once when the device is online (emulator/shadow-requests.ts).
import type { ApiAnswer, CloudContext } from './cloud-api';
import type { DeviceRecord } from './registry';
import { isPlainObject, type SectionChange } from './shadow';

type Body = Record<string, unknown>;

const bad = (message: string): ApiAnswer => ({ status: 400, body: { code: 'BAD_REQUEST', message } });

/**
 * `desired`: an object of attributes, or the string "null" to clear desired (as a device does).
 * `deltaUpdate` (the OpenAPI's DeltaUpdate): true or absent merges into desired, false replaces it.
 * The OpenAPI's own default is false; merging is the default here because it loses nothing.
 */
function desiredChange(body: Body): { change: SectionChange } | { problem: string } {
  const { desired, deltaUpdate } = body;
  if (deltaUpdate !== undefined && typeof deltaUpdate !== 'boolean')
    return { problem: 'deltaUpdate must be a boolean' };
  if (desired === 'null') return { change: 'clear' };
  if (!isPlainObject(desired) || Object.keys(desired).length === 0)
    return { problem: 'desired must be an object with attributes, or "null" to clear it' };
  return { change: deltaUpdate === false ? { replace: desired } : { merge: desired } };
}

/**
 * The version a cloud write takes: absent or 0 means no version check, the next version (DOC:69954:
 * "If versioning is not required, set this parameter to 0"); -1 resets as a device's -1 does;
 * otherwise it must be an integer greater than the current version.
 */
function versionOf(body: Body, current: number): number | string {
  const { version } = body;
  if (version === undefined || version === 0) return current + 1;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < -1)
    return 'version must be an integer greater than the current version, 0 or -1';
  return version;
}

/** Undefined: not a shadow route. */
export function shadowAction(
  ctx: CloudContext,
  device: DeviceRecord,
  action: readonly string[],
  method: string,
  body: Body,
): Promise<ApiAnswer> | undefined {
  if (action[0] !== 'shadow' || action.length !== 1) return undefined;
  if (method === 'GET') return Promise.resolve(describeShadow(ctx, device));
  if (method !== 'POST') return Promise.resolve({ status: 405, body: { code: 'METHOD_NOT_ALLOWED' } });
  return updateDesired(ctx, device, body);
}

function describeShadow(ctx: CloudContext, device: DeviceRecord): ApiAnswer {
  const { shadows } = ctx.shadows;
  const doc = shadows.document(device);
  return { status: 200, body: { ...shadows.view(doc), version: doc.version, timestamp: doc.timestamp } };
}

async function updateDesired(ctx: CloudContext, device: DeviceRecord, body: Body): Promise<ApiAnswer> {
  const { shadows } = ctx.shadows;
  const desired = desiredChange(body);
  if ('problem' in desired) return bad(desired.problem);
  const current = shadows.document(device).version;
  const version = versionOf(body, current);
  if (typeof version === 'string') return bad(version);
  const result = shadows.write(device, { desired: desired.change, version });
  if (!result.ok && result.code === 403) {
    // UNVERIFIED: the OpenAPI's error code for a stale version was not found in any source.
    return {
      status: 409,
      body: { code: 'VERSION_CONFLICT', message: result.message, version: current },
    };
  }
  if (!result.ok) return { status: 400, body: { code: 'TOO_MANY_ATTRIBUTES', message: result.message } };
  const online = await ctx.shadows.pushControl(device);
  return { status: 200, body: { code: 'SUCCESS', version: result.version, online } };
}
