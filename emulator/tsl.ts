// The platform's check of device data against the product's thing model (TSL 数据校验): property
// posts, event posts, what the cloud sends (property set, service calls) and devices' service replies.
// Written from the platform's rules only, never from the client (nodes/): each checks the other.
//
// What the docs say, and what this emulator does:
// - Check levels (https://help.aliyun.com/en/iot/user-guide/verify-tsl-data, doc 213904): strong
//   (强校验: every field checked, only data that passes is forwarded; the only level of products
//   created before 2020-10-14), weak (弱校验: identifier and dataType checked, all data forwarded,
//   failures kept out of the console's TSL data and listed in `checkFailedData`), none (免校验).
//   Here: strong, the level that refuses: a post that fails is answered with a 63xx code and
//   nothing of it is stored (`properties` in the registry keep their values). UNVERIFIED: whether a
//   weak-level product's device also gets the error code in its post_reply (the docs only say the
//   data is forwarded); whether one bad property refuses the whole post or only itself (here the
//   whole post, with the first failure's code).
// - Device codes (https://help.aliyun.com/document_detail/120329.html, "TSL公共错误码"): verified
//   only 6300, `method` missing in a TSL-checked request. The rest of the 6300 range is listed there
//   but could not be read here; the codes below are the emulator's choice per rule, UNVERIFIED. One
//   real device log for a post of an unknown property shows status 6332, "tsl parse failed", with
//   `"5092 - property not found"` for the property (github.com/small-tou/arduino-aliyun-iot-sdk
//   issue 17): the per-rule codes here may be one code with reasons on the platform.
// - Rules: int is an int32 (a whole JSON number); float and double any finite number (the docs ask
//   for "at least one decimal place", which JSON numbers cannot show once parsed: not checked);
//   bool a number among the specs' values (0/1): a JSON true/false is refused; enum an int among
//   the specs' keys; text a string of at most `length` UTF-8 bytes (the docs give the type's ceiling
//   in bytes, 10,240; that `length` counts bytes too is inferred); date UTC milliseconds as digits,
//   a string or a number; struct an object whose keys are its fields; array at most `size` elements
//   of the item type. `min`/`max` are inclusive.
// - UNVERIFIED and left unchecked (the forgiving choice): `step` (the docs never say a value must
//   be a multiple of it); missing struct fields, event outputs and service inputs (`required` marks
//   a standard feature, not a field every message carries); `time` more than 24 h ahead (documented
//   as failing, code unknown); a `method` that names another feature than the topic.

import { TEXT_MAX_BYTES, type DataType, type Param, type ThingModel } from './thing-model';

/** Alink codes for a refused post: 6300 is documented, the others are the emulator's choice. */
export const TSL_CODES = {
  /** The request has no `method` (doc 120329: "method不存在"). */
  methodMissing: 6300,
  /** The value is not of the identifier's data type. */
  wrongType: 6301,
  /** A struct field, event output or service input the TSL does not define. */
  unknownMember: 6304,
  /** Outside min/max, int32, or not among a bool's or enum's values. */
  outOfRange: 6306,
  /** Text longer than `length`, or more array elements than `size`. */
  tooLong: 6307,
  /** A property the TSL does not define. */
  unknownProperty: 6320,
  /** An event the TSL does not define. */
  unknownEvent: 6321,
} as const;

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

export interface TslProblem {
  code: number;
  /** Where: `Temperature`, `Location.lat`, `Schedule[1].Hour`. */
  identifier: string;
  /** What the TSL asks, in words. */
  rule: string;
}

const problem = (code: number, identifier: string, rule: string): TslProblem => ({ code, identifier, rule });

export const describeProblem = (p: TslProblem): string => `${p.identifier}: ${p.rule}`;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function checkNumber(dt: DataType, value: unknown, at: string): TslProblem | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return problem(TSL_CODES.wrongType, at, `must be a number (${dt.type}), got ${JSON.stringify(value)}`);
  }
  if (dt.type === 'int') {
    if (!Number.isInteger(value)) return problem(TSL_CODES.wrongType, at, `must be a whole number (int), got ${value}`);
    if (value < INT32_MIN || value > INT32_MAX) return problem(TSL_CODES.outOfRange, at, 'must fit in an int32');
  }
  if (dt.min !== undefined && value < dt.min) return problem(TSL_CODES.outOfRange, at, `must be at least ${dt.min}`);
  if (dt.max !== undefined && value > dt.max) return problem(TSL_CODES.outOfRange, at, `must be at most ${dt.max}`);
  return undefined;
}

function checkChoice(dt: DataType, value: unknown, at: string): TslProblem | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    const also = typeof value === 'boolean' ? ' (a JSON true/false is not a TSL bool)' : '';
    return problem(TSL_CODES.wrongType, at, `must be an integer (${dt.type})${also}, got ${JSON.stringify(value)}`);
  }
  if (dt.values && !dt.values.has(value)) {
    return problem(TSL_CODES.outOfRange, at, `must be one of ${[...dt.values].join(', ')}, got ${value}`);
  }
  if (value < INT32_MIN || value > INT32_MAX) return problem(TSL_CODES.outOfRange, at, 'must fit in an int32');
  return undefined;
}

function checkText(dt: DataType, value: unknown, at: string): TslProblem | undefined {
  if (typeof value !== 'string') return problem(TSL_CODES.wrongType, at, `must be a string (text)`);
  const limit = dt.length ?? TEXT_MAX_BYTES;
  const bytes = Buffer.byteLength(value, 'utf8');
  return bytes > limit
    ? problem(TSL_CODES.tooLong, at, `must be at most ${limit} bytes (UTF-8), got ${bytes}`)
    : undefined;
}

function checkDate(value: unknown, at: string): TslProblem | undefined {
  const ok =
    typeof value === 'number' ? Number.isSafeInteger(value) : typeof value === 'string' && /^-?\d{1,16}$/.test(value);
  return ok
    ? undefined
    : problem(TSL_CODES.wrongType, at, 'must be a UTC time in milliseconds (digits, string or number)');
}

function checkArray(dt: DataType, value: unknown, at: string): TslProblem | undefined {
  if (!Array.isArray(value)) return problem(TSL_CODES.wrongType, at, 'must be an array');
  const size = dt.size ?? Infinity;
  if (value.length > size)
    return problem(TSL_CODES.tooLong, at, `must have at most ${size} elements, got ${value.length}`);
  for (const [i, item] of (value as unknown[]).entries()) {
    const found = dt.item && checkValue(dt.item, item, `${at}[${i}]`);
    if (found) return found;
  }
  return undefined;
}

/** The first way `value` breaks `dt`, or undefined when it fits. */
export function checkValue(dt: DataType, value: unknown, at: string): TslProblem | undefined {
  switch (dt.type) {
    case 'int':
    case 'float':
    case 'double':
      return checkNumber(dt, value, at);
    case 'bool':
    case 'enum':
      return checkChoice(dt, value, at);
    case 'text':
      return checkText(dt, value, at);
    case 'date':
      return checkDate(value, at);
    case 'struct':
      if (!isObject(value)) return problem(TSL_CODES.wrongType, at, 'must be an object (struct)');
      return checkMembers(dt.fields ?? new Map(), value, `${at}.`, 'a field of this struct');
    case 'array':
      return checkArray(dt, value, at);
  }
}

/** Every key must be one of `params`, every value fit its type; missing ones are not looked for. */
export function checkMembers(
  params: ReadonlyMap<string, Param>,
  values: Record<string, unknown>,
  prefix: string,
  what: string,
): TslProblem | undefined {
  for (const [key, value] of Object.entries(values)) {
    const param = params.get(key);
    if (!param) return problem(TSL_CODES.unknownMember, prefix + key, `is not ${what} in the TSL`);
    const found = checkValue(param.dataType, value, prefix + key);
    if (found) return found;
  }
  return undefined;
}

/** A property's value in a post: bare, or `{"value": v, "time": ms}`. */
export function postedValue(raw: unknown): unknown {
  if (!isObject(raw) || !('value' in raw)) return raw;
  return Object.keys(raw).every((k) => k === 'value' || k === 'time') ? raw.value : raw;
}

export function checkPropertyPost(model: ThingModel, params: Record<string, unknown>): TslProblem | undefined {
  for (const [identifier, raw] of Object.entries(params)) {
    const property = model.properties.get(identifier);
    if (!property) return problem(TSL_CODES.unknownProperty, identifier, 'is not a property in the TSL');
    const found = checkValue(property.dataType, postedValue(raw), identifier);
    if (found) return found;
  }
  return undefined;
}

/** `params: {value: {...outputs}, time}`; params without `value` are read as the outputs themselves. */
export function checkEventPost(
  model: ThingModel,
  eventId: string,
  params: Record<string, unknown>,
): TslProblem | undefined {
  const event = model.events.get(eventId);
  if (!event) return problem(TSL_CODES.unknownEvent, eventId, 'is not an event in the TSL');
  const outputs = isObject(params.value)
    ? params.value
    : Object.fromEntries(Object.entries(params).filter(([k]) => k !== 'time'));
  return checkMembers(event.outputs, outputs, `${eventId}.`, 'an output of this event');
}

/**
 * What a TSL-checked post is refused with, or undefined when it passes. `rest` is the topic after
 * `/sys/{pk}/{dn}/`; `body` an Alink request (id and object params) already.
 */
export function refusePost(
  model: ThingModel,
  rest: string,
  body: { method?: unknown; params?: unknown },
): TslProblem | undefined {
  if (typeof body.method !== 'string' || body.method === '')
    return problem(TSL_CODES.methodMissing, 'method', 'is required');
  const params = body.params as Record<string, unknown>;
  if (rest === 'thing/event/property/post') return checkPropertyPost(model, params);
  const event = /^thing\/event\/([^/]+)\/post$/.exec(rest)?.[1];
  return event === undefined ? undefined : checkEventPost(model, event, params);
}

/** The device's reply data to a service call, against the service's outputData. */
export function checkServiceReply(model: ThingModel, serviceId: string, reply: unknown): TslProblem | undefined {
  const service = model.services.get(serviceId);
  const data = isObject(reply) ? reply.data : undefined;
  if (!service || data === undefined) return undefined;
  if (!isObject(data)) return problem(TSL_CODES.wrongType, `${serviceId} reply data`, 'must be an object');
  return checkMembers(service.outputs, data, `${serviceId}.`, 'an output of this service');
}
