// The cloud API and the thing model: `GET /api/products/{pk}/tsl`, and the refusals the platform's
// OpenAPI gives a property set (SetDeviceProperty) or a service call (InvokeThingService) that breaks
// the product's TSL, before anything is sent to the device.
//
// Codes (HTTP 400, body `{code, message, identifier, rule}`): `iot.check.InvalidFormattedParameter`
// is a real platform code ("The args parameter format is invalid", answered to a malformed
// SetDeviceProperty `Items`: github.com/aliyun/aliyun-openapi-net-sdk issue 234); here it answers a
// service input that breaks the TSL. `iot.thing.InvalidIdentifier` (a property, service or input
// the TSL does not define) and `iot.device.InvalidFormattedProperty` (a value that breaks the TSL, or
// a read-only property) are UNVERIFIED: the OpenAPI error list (doc 87387) could not be read here.
import type { ApiAnswer } from './cloud-api';
import type { Registry } from './registry';
import { checkMembers, checkValue, TSL_CODES } from './tsl';
import type { ThingModel } from './thing-model';

export const API_CODES = {
  unknownIdentifier: 'iot.thing.InvalidIdentifier',
  badProperty: 'iot.device.InvalidFormattedProperty',
  badServiceInput: 'iot.check.InvalidFormattedParameter',
} as const;

function refusal(code: string, identifier: string, rule: string): ApiAnswer {
  const message = `refused by the product's TSL: ${identifier}: ${rule}`;
  return { status: 400, body: { code, message, identifier, rule } };
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** SetDeviceProperty: every identifier a writable property, every value of its type. */
export function refuseProperties(model: ThingModel | undefined, params: object): ApiAnswer | undefined {
  if (!model) return undefined;
  for (const [identifier, value] of Object.entries(params)) {
    const property = model.properties.get(identifier);
    if (!property) {
      return refusal(API_CODES.unknownIdentifier, identifier, 'is not a property in the TSL');
    }
    if (property.accessMode === 'r') {
      return refusal(API_CODES.badProperty, identifier, 'is read-only (accessMode r)');
    }
    const found = checkValue(property.dataType, value, identifier);
    if (found) return refusal(API_CODES.badProperty, found.identifier, found.rule);
  }
  return undefined;
}

/** InvokeThingService (and RRPC with a service): a service of the TSL, its inputs of their types. */
export function refuseService(
  model: ThingModel | undefined,
  serviceId: string,
  params: unknown,
): ApiAnswer | undefined {
  if (!model) return undefined;
  const service = model.services.get(serviceId);
  if (!service) {
    return refusal(API_CODES.unknownIdentifier, serviceId, 'is not a service in the TSL');
  }
  if (!isObject(params)) {
    return refusal(API_CODES.badServiceInput, serviceId, 'params must be an object');
  }
  const found = checkMembers(service.inputs, params, `${serviceId}.`, 'an input of this service');
  if (!found) return undefined;
  const code = found.code === TSL_CODES.unknownMember ? API_CODES.unknownIdentifier : API_CODES.badServiceInput;
  return refusal(code, found.identifier, found.rule);
}

/** A service identifier the API takes: `Id`, or `module:Id` of a custom module the TSL defines. */
export function serviceIdOk(model: ThingModel | undefined, id: string): boolean {
  return /^[A-Za-z_]\w*$/.test(id) || (model !== undefined && /^\w+:[A-Za-z_]\w*$/.test(id));
}

/** `GET /api/products/{pk}/tsl`: the TSL as given. */
export function productAction(registry: Registry, method: string, path: readonly string[]): ApiAnswer {
  const [, productKey = '', what, ...more] = path;
  if (what !== 'tsl' || more.length > 0) return { status: 404, body: { code: 'NOT_FOUND' } };
  if (method !== 'GET') return { status: 405, body: { code: 'METHOD_NOT_ALLOWED' } };
  if (!registry.product(productKey)) {
    return { status: 404, body: { code: 'PRODUCT_NOT_FOUND', message: `no product ${productKey}` } };
  }
  const model = registry.model(productKey);
  if (!model) return { status: 404, body: { code: 'TSL_NOT_FOUND', message: `product ${productKey} has no TSL` } };
  return { status: 200, body: model.tsl };
}
