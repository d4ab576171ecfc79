// RRPC from the cloud API (`POST /api/devices/{pk}/{dn}/rrpc`), what the RRpc OpenAPI does
// (PLATFORM.md §16.2, DOC:69797), in the form the device's connection asked for:
// - ClientId `ext` with bit0 set (`ext=1`, `ext=3`; L4 comment "ext bitmap: bit0-rrpc"; §10, §16.2):
//   `/ext/rrpc/{messageId}/sys/{pk}/{dn}/thing/service/{id}` for a sync service,
//   `/ext/rrpc/{messageId}/sys/{pk}/{dn}/thing/model/down_raw` for a sync raw call,
//   `/ext/rrpc/{messageId}{custom topic}` for a custom topic; the device answers on the same topic;
// - otherwise (`ext=0` or absent: C SDK 3.x, Node SDK) `/sys/{pk}/{dn}/rrpc/request/{messageId}`,
//   answered on `/sys/{pk}/{dn}/rrpc/response/{messageId}`.
// Which form the platform picks by the flag is inferred from the SDKs' topic tables (§16.2), not stated in a doc.
// Body: `{service, params}` | `{topic, payload | payloadBase64}` | `{raw: true, payload | payloadBase64}` |
// `{payload | payloadBase64}`, with `timeoutMs` (clamped to 1000-8000, DOC:69797). Answer: `{messageId,
// code: 'SUCCESS'|'TIMEOUT'|'OFFLINE', reply, replyBase64}` (+ `id` and the parsed `reply` for a service).
import type { ApiAnswer, CloudContext } from './cloud-api';
import type { DeviceRecord } from './registry';
import { deviceOwnsTopic, isExtRrpc } from './topics';
import { refuseService, serviceIdOk } from './tsl-api';

type Body = Record<string, unknown>;

const bad = (message: string): ApiAnswer => ({ status: 400, body: { code: 'BAD_REQUEST', message } });

/** The RRpc OpenAPI's default wait when none is given (within its 1000-8000 ms). */
const DEFAULT_TIMEOUT_MS = 5000;

/** True when a ClientId's `ext` value has bit0 (RRPC) set: `1`, `3`...; `0`, absent or not a number: off. */
export function extRrpcBit(value: string | undefined): boolean {
  return value !== undefined && /^\d{1,9}$/.test(value) && (Number(value) & 1) === 1;
}

/**
 * Whether the connection that carries the device asked for the `/ext/rrpc/` form: its own, or its
 * gateway's for a sub-device online through one. UNVERIFIED for sub-devices: the gateway's flag is the
 * one the platform can know (the sub-device has no ClientId of its own there).
 */
export function usesExtRrpc(ctx: Pick<CloudContext, 'gateways'>, device: DeviceRecord): boolean {
  const carrier = ctx.gateways.sessionOf(device) ?? device;
  return carrier.extRrpc === true;
}

function payloadOf(body: Body): Buffer | string | undefined {
  if (typeof body.payloadBase64 === 'string') return Buffer.from(body.payloadBase64, 'base64');
  if (typeof body.payload === 'string') return body.payload;
  return body.payload === undefined ? undefined : JSON.stringify(body.payload);
}

function timeoutOf(body: Body): number {
  return typeof body.timeoutMs === 'number' && Number.isFinite(body.timeoutMs) ? body.timeoutMs : DEFAULT_TIMEOUT_MS;
}

/**
 * A custom topic RRPC may use: one of the device's own, literal (no wildcard), not itself an
 * `/ext/rrpc/` topic. The RRpc OpenAPI's `Topic` is given without the `/ext/rrpc/{messageId}` prefix (§4.3).
 */
function customTopicProblem(device: DeviceRecord, topic: unknown): string | undefined {
  if (typeof topic !== 'string' || topic === '') return 'topic must be a non-empty string';
  if (/[+#]/.test(topic) || isExtRrpc(topic)) return 'topic must be a plain topic, without wildcards or /ext/rrpc/';
  if (!deviceOwnsTopic(device.productKey, device.deviceName, topic)) return 'topic is not under this device';
  return undefined;
}

/** `POST rrpc`; undefined: not this route. */
export function rrpcAction(
  ctx: CloudContext,
  device: DeviceRecord,
  action: readonly string[],
  method: string,
  body: Body,
): Promise<ApiAnswer> | undefined {
  if (action[0] !== 'rrpc' || action.length !== 1) return undefined;
  if (method !== 'POST') return Promise.resolve({ status: 405, body: { code: 'METHOD_NOT_ALLOWED' } });
  return call(ctx, device, body);
}

async function call(ctx: CloudContext, device: DeviceRecord, body: Body): Promise<ApiAnswer> {
  const ext = usesExtRrpc(ctx, device);
  const timeoutMs = timeoutOf(body);
  const base = `/sys/${device.productKey}/${device.deviceName}`;
  // `service` + `params`: a synchronous thing-model service, checked against the TSL when there is one.
  if (typeof body.service === 'string') {
    const model = ctx.registry.model(device.productKey);
    if (!serviceIdOk(model, body.service)) return bad('service identifier is invalid');
    const refused = refuseService(model, body.service, body.params ?? {});
    if (refused) return refused;
    const params = body.params ?? {};
    return { status: 200, body: await ctx.platform.rrpcService(device, body.service, params, timeoutMs, ext) };
  }
  const payload = payloadOf(body);
  if (payload === undefined) return bad('payload or payloadBase64 is required');
  if (body.topic !== undefined) {
    const problem = customTopicProblem(device, body.topic);
    if (problem) return bad(problem);
    if (!device.online) return { status: 200, body: await ctx.platform.rrpc(device, payload, timeoutMs) };
    // UNVERIFIED what the platform answers: the request would go where the device does not listen.
    // The emulator says so at once rather than let the caller wait for a TIMEOUT.
    if (!ext)
      return {
        status: 409,
        body: {
          code: 'EXT_RRPC_OFF',
          message: 'custom-topic RRPC needs the device to connect with ext=1 (bit0) in its MQTT ClientId',
        },
      };
    return { status: 200, body: await ctx.platform.rrpc(device, payload, timeoutMs, body.topic as string) };
  }
  // `raw: true`: a synchronous raw (pass-through) service call, `/ext/rrpc/.../thing/model/down_raw`
  // (§4.1); a device without the flag gets it in the original form, as any RRPC payload.
  const rawTopic = body.raw === true && ext ? `${base}/thing/model/down_raw` : undefined;
  return { status: 200, body: await ctx.platform.rrpc(device, payload, timeoutMs, rawTopic) };
}
