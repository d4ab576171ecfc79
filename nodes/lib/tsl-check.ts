// Values checked against the product's thing model before they leave, and converted where the
// intent is unambiguous: a JavaScript boolean becomes the 0/1 a `bool` takes, a numeric string the
// number an `int` or `float` takes, a number of milliseconds the string a `date` takes. A refusal
// names the identifier, the rule and the value. The editor loads this file too.
import type { Problem } from './errors';
import type { DataType, Field, ThingModel } from './tsl-model';
import { describeType } from './tsl-model';
import { printable } from './rules';

export type TslCode = 'TSL_UNKNOWN' | 'TSL_TYPE' | 'TSL_RANGE' | 'TSL_STEP' | 'TSL_ENUM' | 'TSL_LENGTH' | 'TSL_SIZE';
export type TslProblem = Problem<TslCode>;
export type Refused = { ok: false; problem: TslProblem };
export type Verdict<T = unknown> = { ok: true; value: T } | Refused;

/** What an unknown identifier does: refused, or kept and reported (the node warns). */
export type UnknownPolicy = 'refuse' | 'warn';

export interface Accepted<T> {
  ok: true;
  value: T;
  /** Identifiers not in the model that were kept (policy `warn`). */
  unknown: string[];
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const INTEGER_TEXT = /^[-+]?\d+$/;
const NUMBER_TEXT = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** A value as a message shows it: short, and never more than a glimpse of a long text. */
function shown(value: unknown): string {
  let text: string;
  try {
    // undefined for a function or undefined, whatever the type says.
    const json = JSON.stringify(value) as string | undefined;
    text = json ?? printable(value);
  } catch {
    text = printable(value);
  }
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

const refuse = (code: TslCode, identifier: string, params: Record<string, unknown> = {}): Refused => ({
  ok: false,
  problem: { code, params: { identifier, ...params } },
});
const typeProblem = (identifier: string, value: unknown, dt: DataType): Refused =>
  refuse('TSL_TYPE', identifier, { value: shown(value), type: describeType(dt) });

function checkNumber(dt: Extract<DataType, { type: 'int' | 'float' | 'double' }>, value: unknown, id: string): Verdict {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && (dt.type === 'int' ? INTEGER_TEXT : NUMBER_TEXT).test(value.trim()))
    n = Number(value);
  else return typeProblem(id, value, dt);
  if (!Number.isFinite(n)) return typeProblem(id, value, dt);
  if (dt.type === 'int' && (!Number.isInteger(n) || n < INT32_MIN || n > INT32_MAX)) return typeProblem(id, value, dt);
  if ((dt.min !== undefined && n < dt.min) || (dt.max !== undefined && n > dt.max))
    return refuse('TSL_RANGE', id, { value: shown(n), min: dt.min ?? '', max: dt.max ?? '' });
  if (dt.step !== undefined) {
    // Steps are counted from the minimum; a float's rounding error is not a step off.
    const steps = (n - (dt.min ?? 0)) / dt.step;
    if (Math.abs(steps - Math.round(steps)) > 1e-6) return refuse('TSL_STEP', id, { value: shown(n), step: dt.step });
  }
  return { ok: true, value: n };
}

function checkChoice(dt: Extract<DataType, { type: 'bool' | 'enum' }>, value: unknown, id: string): Verdict {
  let n: number | undefined;
  if (typeof value === 'boolean' && dt.type === 'bool') n = value ? 1 : 0;
  else if (typeof value === 'number' && Number.isInteger(value)) n = value;
  else if (typeof value === 'string' && INTEGER_TEXT.test(value.trim())) n = Number(value);
  if (n === undefined) return typeProblem(id, value, dt);
  // A bool without labels in the export still takes 0 and 1.
  const values =
    dt.values.size > 0
      ? dt.values
      : new Map([
          [0, ''],
          [1, ''],
        ]);
  if (!values.has(n)) return refuse('TSL_ENUM', id, { value: shown(value), values: [...values.keys()].join(', ') });
  return { ok: true, value: n };
}

function checkDate(dt: DataType, value: unknown, id: string): Verdict {
  if (value instanceof Date && Number.isFinite(value.getTime())) return { ok: true, value: String(value.getTime()) };
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return { ok: true, value: String(value) };
  if (typeof value === 'string' && /^\d+$/.test(value)) return { ok: true, value };
  return typeProblem(id, value, dt);
}

/** One value against its data type: the value to send, converted, or the first rule it breaks. */
export function checkData(dt: DataType, value: unknown, id: string): Verdict {
  switch (dt.type) {
    case 'int':
    case 'float':
    case 'double':
      return checkNumber(dt, value, id);
    case 'bool':
    case 'enum':
      return checkChoice(dt, value, id);
    case 'text': {
      const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
      if (typeof text !== 'string') return typeProblem(id, value, dt);
      // UTF-8 bytes: the platform gives text limits in bytes (字节); counting characters would let a
      // Chinese text through that the platform refuses. (Whether `length` counts bytes is UNVERIFIED.)
      const length = new TextEncoder().encode(text).length;
      return dt.length !== undefined && length > dt.length
        ? refuse('TSL_LENGTH', id, { length, max: dt.length })
        : { ok: true, value: text };
    }
    case 'date':
      return checkDate(dt, value, id);
    case 'struct': {
      const checked = checkFields(dt.fields, value, id, 'refuse');
      return checked.ok ? { ok: true, value: checked.value } : checked;
    }
    case 'array': {
      if (!Array.isArray(value)) return typeProblem(id, value, dt);
      if (dt.size !== undefined && value.length > dt.size)
        return refuse('TSL_SIZE', id, { length: value.length, max: dt.size });
      const out: unknown[] = [];
      for (const [i, item] of value.entries()) {
        const checked = checkData(dt.item, item, `${id}[${i}]`);
        if (!checked.ok) return checked;
        out.push(checked.value);
      }
      return { ok: true, value: out };
    }
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * An object of named values (a struct, an event's output, a service's input or output) against
 * its fields. A field may be left out (the platform keeps what it had); one the model lacks is
 * refused or kept by `policy`.
 */
export function checkFields(
  fields: readonly Field[],
  data: unknown,
  where: string,
  policy: UnknownPolicy,
): Accepted<Record<string, unknown>> | Refused {
  if (!isRecord(data)) return refuse('TSL_TYPE', where, { value: shown(data), type: 'object' });
  const byId = new Map(fields.map((f) => [f.identifier, f]));
  const value: Record<string, unknown> = {};
  const unknown: string[] = [];
  for (const [key, item] of Object.entries(data)) {
    const id = where ? `${where}.${key}` : key;
    const field = byId.get(key);
    if (!field) {
      if (policy === 'refuse') return refuse('TSL_UNKNOWN', id);
      unknown.push(id);
      value[key] = item;
      continue;
    }
    const checked = checkData(field.dataType, item, id);
    if (!checked.ok) return checked;
    value[key] = checked.value;
  }
  return { ok: true, value, unknown };
}

/** `{value, time}` is a property post's timestamped form of one value (PLATFORM.md §7). */
function timestamped(item: unknown, dt: DataType): item is { value: unknown; time?: unknown } {
  if (!isRecord(item) || !('value' in item) || !Object.keys(item).every((k) => k === 'value' || k === 'time'))
    return false;
  return dt.type !== 'struct' || !dt.fields.some((f) => f.identifier === 'value');
}

/** A property post's params: each property checked and converted, in either of its two forms. */
export function checkPropertyPost(
  model: ThingModel,
  params: Record<string, unknown>,
  policy: UnknownPolicy,
): Accepted<Record<string, unknown>> | Refused {
  const value: Record<string, unknown> = {};
  const unknown: string[] = [];
  for (const [id, item] of Object.entries(params)) {
    const property = model.properties.get(id);
    if (!property) {
      if (policy === 'refuse') return refuse('TSL_UNKNOWN', id);
      unknown.push(id);
      value[id] = item;
      continue;
    }
    const wrapped = timestamped(item, property.dataType);
    const checked = checkData(property.dataType, wrapped ? item.value : item, id);
    if (!checked.ok) return checked;
    value[id] = wrapped ? { ...item, value: checked.value } : checked.value;
  }
  return { ok: true, value, unknown };
}

/** An event's value against its output data; an event the model lacks follows `policy`. */
export function checkEventPost(
  model: ThingModel,
  eventId: string,
  data: unknown,
  policy: UnknownPolicy,
): Accepted<Record<string, unknown>> | Refused {
  const event = model.events.get(eventId);
  if (!event) {
    if (policy === 'refuse') return refuse('TSL_UNKNOWN', eventId);
    return isRecord(data)
      ? { ok: true, value: data, unknown: [eventId] }
      : refuse('TSL_TYPE', eventId, { value: shown(data), type: 'object' });
  }
  return checkFields(event.outputData, data, eventId, policy);
}

/**
 * What the cloud sent (a property set or a service call) against the model: the first mismatch,
 * for a warning; the message goes to the flow either way, the device decides what to do.
 */
export function cloudDataProblem(
  model: ThingModel,
  serviceId: string | undefined,
  params: unknown,
): TslProblem | undefined {
  if (serviceId === undefined) {
    if (!isRecord(params)) return refuse('TSL_TYPE', 'property/set', { value: shown(params), type: 'object' }).problem;
    const checked = checkPropertyPost(model, params, 'refuse');
    return checked.ok ? undefined : checked.problem;
  }
  const service = model.services.get(serviceId);
  if (!service) return refuse('TSL_UNKNOWN', serviceId).problem;
  const checked = checkFields(service.inputData, params, serviceId, 'refuse');
  return checked.ok ? undefined : checked.problem;
}

/** A service reply's data against the service's output data; a service the model lacks is refused. */
export function checkServiceReply(
  model: ThingModel,
  serviceId: string,
  data: unknown,
): Accepted<Record<string, unknown>> | Refused {
  const service = model.services.get(serviceId);
  if (!service) return refuse('TSL_UNKNOWN', serviceId);
  return checkFields(service.outputData, data ?? {}, serviceId, 'refuse');
}
