// The cloud side over HTTP (JSON): what a server application does with the platform's OpenAPI,
// reduced to what flows need to be tested: devices, recent uplink, downlink, property set,
// services, RRPC (both forms, emulator/ext-rrpc.ts), raw data, disable/enable/delete, a forced
// disconnect, device shadows, OTA jobs, products' thing models (TSL) and remote configuration, and
// the emulator's own counters. Calls that break a product's TSL are
// refused before reaching the device (emulator/tsl-api.ts).
// No answer carries a secret.
import type { EmulatorBroker } from './broker';
import type { Gateways } from './gateway';
import { rrpcAction } from './ext-rrpc';
import { gatewayAction } from './gateway-api';
import { lifecycleAction, type Lifecycle } from './lifecycle';
import { otaAction } from './ota-api';
import type { OtaService } from './ota-requests';
import type { Platform } from './platform';
import { rawAction, type RawService } from './raw';
import { describeDevice, type DeviceRecord, type Registry } from './registry';
import { configAction } from './remote-config-api';
import type { RemoteConfigService } from './remote-config-requests';
import { shadowAction } from './shadow-api';
import type { ShadowService } from './shadow-requests';
import { deviceOwnsTopic } from './topics';
import { productAction, refuseProperties, refuseService, serviceIdOk } from './tsl-api';

export interface ApiAnswer {
  status: number;
  body: unknown;
}

export interface CloudContext {
  registry: Registry;
  platform: Platform;
  broker: EmulatorBroker;
  gateways: Gateways;
  /** Device shadows, and their `control` pushes. */
  shadows: ShadowService;
  /** OTA jobs and their pushes (`/api/devices/{pk}/{dn}/ota`). */
  ota: OtaService;
  /** Products' remote configuration and its pushes (`/api/products/{pk}/config`). */
  remoteConfig: RemoteConfigService;
  /** Disable, enable and delete notices, and the devices' replies (`/api/devices/{pk}/{dn}/disable`...). */
  lifecycle: Lifecycle;
  /** Raw (pass-through) data (`/api/devices/{pk}/{dn}/raw`). */
  raw: RawService;
  /** What `GET /api/stats` answers. */
  stats: () => unknown;
}

type Body = Record<string, unknown>;

function bad(message: string): ApiAnswer {
  return { status: 400, body: { code: 'BAD_REQUEST', message } };
}

function payloadOf(body: Body): Buffer | string | undefined {
  if (typeof body.payloadBase64 === 'string') return Buffer.from(body.payloadBase64, 'base64');
  if (typeof body.payload === 'string') return body.payload;
  return body.payload === undefined ? undefined : JSON.stringify(body.payload);
}

function timeoutOf(body: Body, fallback: number): number {
  return typeof body.timeoutMs === 'number' && Number.isFinite(body.timeoutMs) ? body.timeoutMs : fallback;
}

async function deviceAction(
  ctx: CloudContext,
  device: DeviceRecord,
  action: string[],
  method: string,
  body: Body,
): Promise<ApiAnswer> {
  const [verb, arg] = action;
  if (method === 'GET' && verb === undefined) return { status: 200, body: describeDevice(device) };
  if (method === 'GET' && verb === 'messages') return { status: 200, body: device.uplink };
  const gateway = gatewayAction(ctx, device, action, method, body);
  if (gateway) return gateway;
  const shadow = shadowAction(ctx, device, action, method, body);
  if (shadow) return shadow;
  const ota = otaAction(ctx, device, action, method, body);
  if (ota) return ota;
  // RRPC in the form the device's ClientId asked for; disable/enable/delete; raw data.
  const advanced =
    rrpcAction(ctx, device, action, method, body) ??
    lifecycleAction(ctx, device, action, method, body) ??
    rawAction(ctx, device, action, method, body);
  if (advanced) return advanced;
  if (method !== 'POST') return { status: 405, body: { code: 'METHOD_NOT_ALLOWED' } };
  const model = ctx.registry.model(device.productKey);
  switch (verb) {
    case 'publish': {
      const topic = typeof body.topic === 'string' ? body.topic : '';
      const payload = payloadOf(body);
      const qos = body.qos === 1 ? 1 : 0;
      if (!deviceOwnsTopic(device.productKey, device.deviceName, topic)) return bad('topic is not under this device');
      if (payload === undefined) return bad('payload or payloadBase64 is required');
      await ctx.platform.publishDown(topic, payload, qos);
      return { status: 200, body: { code: 'SUCCESS', online: device.online } };
    }
    case 'properties': {
      if (typeof body.params !== 'object' || body.params === null) return bad('params object is required');
      const refused = refuseProperties(model, body.params);
      if (refused) return refused;
      return {
        status: 200,
        body: await ctx.platform.callThing(device, 'property/set', body.params, timeoutOf(body, 0)),
      };
    }
    case 'services': {
      if (!arg || !serviceIdOk(model, arg)) return bad('service identifier is required');
      const refused = refuseService(model, arg, body.params ?? {});
      if (refused) return refused;
      return { status: 200, body: await ctx.platform.callThing(device, arg, body.params ?? {}, timeoutOf(body, 0)) };
    }
    case 'disconnect':
      return { status: 200, body: { disconnected: ctx.broker.disconnect(device, 'disconnected-by-cloud') } };
    default:
      return { status: 404, body: { code: 'NOT_FOUND' } };
  }
}

/** Routes `/api/stats`, `/api/products/pk/tsl|config` and `/api/devices[/pk/dn[/action[/arg]]]`. */
export async function cloudApi(ctx: CloudContext, method: string, path: string[], body: Body): Promise<ApiAnswer> {
  if (path[0] === 'products') return configAction(ctx, method, path, body) ?? productAction(ctx.registry, method, path);
  if (path[0] === 'stats' && path.length === 1) {
    return method === 'GET'
      ? { status: 200, body: ctx.stats() }
      : { status: 405, body: { code: 'METHOD_NOT_ALLOWED' } };
  }
  if (path[0] !== 'devices') return { status: 404, body: { code: 'NOT_FOUND' } };
  if (path.length === 1 && method === 'GET') return { status: 200, body: ctx.registry.list().map(describeDevice) };
  const [, productKey = '', deviceName = '', ...action] = path;
  const device = ctx.registry.device(productKey, deviceName);
  if (!device) return { status: 404, body: { code: 'DEVICE_NOT_FOUND' } };
  return deviceAction(ctx, device, action, method, body);
}
