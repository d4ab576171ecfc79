// A product's thing model (TSL, 物模型) as the console exports it (物模型 -> 导出物模型), read into
// lookups by identifier (PLATFORM.md §7). The editor loads this file too: no imports of packages.
//
// What an export holds: `properties[]`, `events[]`, `services[]`, each with `identifier`, `name`
// and a `dataType` `{type, specs}` (events `outputData[]`, services `inputData[]`/`outputData[]` and
// `callType`); numbers in specs are strings. A custom module's export carries `functionBlockId` and
// its identifiers travel as `module:identifier`; several blocks come as an array of exports. The
// export's own entries for the property services (`set`, `get`) and the property post event
// (`post`) are not items a flow names, and are left out.
import type { Problem } from './errors';

export type NumberType = 'int' | 'float' | 'double';

export type DataType =
  | {
      readonly type: NumberType;
      readonly min?: number;
      readonly max?: number;
      readonly step?: number;
      readonly unit: string;
    }
  | { readonly type: 'bool' | 'enum'; readonly values: ReadonlyMap<number, string> }
  | { readonly type: 'text'; readonly length?: number }
  | { readonly type: 'date' }
  | { readonly type: 'struct'; readonly fields: readonly Field[] }
  | { readonly type: 'array'; readonly size?: number; readonly item: DataType };

export interface Field {
  readonly identifier: string;
  readonly name: string;
  readonly dataType: DataType;
}

export interface Property extends Field {
  /** `r`: the cloud cannot set it. */
  readonly accessMode: 'rw' | 'r';
}

export interface ThingEvent {
  readonly identifier: string;
  readonly name: string;
  /** info, alert or error. */
  readonly type: string;
  readonly outputData: readonly Field[];
}

export interface Service {
  readonly identifier: string;
  readonly name: string;
  readonly callType: 'sync' | 'async';
  readonly inputData: readonly Field[];
  readonly outputData: readonly Field[];
}

export interface ThingModel {
  readonly productKey: string;
  readonly properties: ReadonlyMap<string, Property>;
  readonly events: ReadonlyMap<string, ThingEvent>;
  readonly services: ReadonlyMap<string, Service>;
}

type Json = Partial<Record<string, unknown>>;
export type TslResult = { ok: true; model: ThingModel } | { ok: false; problem: Problem<'TSL_INVALID'> };

class TslError extends Error {}

const fail = (reason: string): never => {
  throw new TslError(reason);
};
const asObject = (v: unknown, where: string): Json =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? v : fail(`${where} is not an object`);
const asList = (v: unknown, where: string): unknown[] =>
  v === undefined ? [] : Array.isArray(v) ? v : fail(`${where} is not a list`);
const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

/** A number from a spec ("-40", "0.1", 120); undefined when blank. */
function specNumber(v: unknown, where: string): number | undefined {
  if (v === undefined || v === null || str(v).trim() === '') return undefined;
  const n = Number(str(v));
  return Number.isFinite(n) ? n : fail(`${where} is not a number`);
}

function dataTypeOf(raw: unknown, where: string): DataType {
  const dt = asObject(raw, `${where}.dataType`);
  const type = str(dt.type).toLowerCase();
  switch (type) {
    case 'int':
    case 'float':
    case 'double': {
      const specs = dt.specs === undefined ? {} : asObject(dt.specs, `${where} specs`);
      const min = specNumber(specs.min, `${where} min`);
      const max = specNumber(specs.max, `${where} max`);
      const step = specNumber(specs.step, `${where} step`);
      return { type, min, max, step: step && step > 0 ? step : undefined, unit: str(specs.unit) };
    }
    case 'bool':
    case 'enum': {
      const specs = asObject(dt.specs ?? {}, `${where} specs`);
      const values = new Map<number, string>();
      for (const [key, label] of Object.entries(specs)) {
        if (!/^-?\d+$/.test(key)) fail(`${where} value ${key} is not an integer`);
        values.set(Number(key), str(label));
      }
      return { type, values };
    }
    case 'text': {
      const specs = dt.specs === undefined ? {} : asObject(dt.specs, `${where} specs`);
      return { type, length: specNumber(specs.length, `${where} length`) };
    }
    case 'date':
      return { type };
    case 'struct':
      return { type, fields: fieldsOf(dt.specs, `${where} specs`) };
    case 'array': {
      const specs = asObject(dt.specs, `${where} specs`);
      // The item is `{type, specs}` itself, not wrapped in a dataType.
      const item = dataTypeOf(asObject(specs.item, `${where} item`), `${where}[]`);
      return { type, size: specNumber(specs.size, `${where} size`), item };
    }
    default:
      return fail(`${where} has the unknown type "${type}"`);
  }
}

function fieldOf(raw: unknown, where: string, prefix = ''): Field {
  const v = asObject(raw, where);
  const identifier = str(v.identifier) || fail(`${where} has no identifier`);
  const id = prefix + identifier;
  return { identifier: id, name: str(v.name) || identifier, dataType: dataTypeOf(v.dataType, id) };
}

function fieldsOf(raw: unknown, where: string): Field[] {
  return asList(raw, where).map((item, i) => fieldOf(item, `${where}[${i}]`));
}

/** The export's own entries for property set/get and the property post: not a flow's to name. */
const BUILT_IN = /^thing\.(service\.property\.(set|get)|event\.property\.post)$/;
/** By method, or by the reserved identifier when an export leaves the method out. */
const builtIn = (v: Json, reserved: readonly string[]): boolean =>
  BUILT_IN.test(str(v.method)) || (str(v.method) === '' && reserved.includes(str(v.identifier)));

function readBlock(block: Json, into: { [K in 'properties' | 'events' | 'services']: Map<string, unknown> }): string {
  const module = str(block.functionBlockId);
  const prefix = module ? `${module}:` : '';
  for (const [i, item] of asList(block.properties, 'properties').entries()) {
    const property = fieldOf(item, `properties[${i}]`, prefix);
    const accessMode = str(asObject(item, 'property').accessMode) === 'r' ? 'r' : 'rw';
    into.properties.set(property.identifier, { ...property, accessMode });
  }
  for (const [i, item] of asList(block.events, 'events').entries()) {
    const v = asObject(item, `events[${i}]`);
    if (builtIn(v, ['post'])) continue;
    const identifier = prefix + (str(v.identifier) || fail(`events[${i}] has no identifier`));
    const outputData = fieldsOf(v.outputData, `${identifier} outputData`);
    into.events.set(identifier, {
      identifier,
      name: str(v.name) || identifier,
      type: str(v.type) || 'info',
      outputData,
    });
  }
  for (const [i, item] of asList(block.services, 'services').entries()) {
    const v = asObject(item, `services[${i}]`);
    if (builtIn(v, ['set', 'get'])) continue;
    const identifier = prefix + (str(v.identifier) || fail(`services[${i}] has no identifier`));
    into.services.set(identifier, {
      identifier,
      name: str(v.name) || identifier,
      callType: str(v.callType) === 'sync' ? 'sync' : 'async',
      inputData: fieldsOf(v.inputData, `${identifier} inputData`),
      outputData: fieldsOf(v.outputData, `${identifier} outputData`),
    });
  }
  const profile = block.profile === undefined ? {} : asObject(block.profile, 'profile');
  return str(profile.productKey);
}

/** Reads a TSL export (the JSON text or its parsed value); a problem names what is wrong. */
export function parseTsl(source: unknown): TslResult {
  try {
    let value = source;
    if (typeof source === 'string') {
      try {
        value = JSON.parse(source) as unknown;
      } catch (err) {
        fail(`not JSON (${(err as Error).message})`);
      }
    }
    const blocks = Array.isArray(value) ? value : [value];
    const maps = { properties: new Map(), events: new Map(), services: new Map() };
    let productKey = '';
    for (const [i, block] of blocks.entries()) {
      const key = readBlock(asObject(block, blocks.length > 1 ? `block ${i}` : 'the thing model'), maps);
      productKey ||= key;
    }
    const model: ThingModel = {
      productKey,
      properties: maps.properties as Map<string, Property>,
      events: maps.events as Map<string, ThingEvent>,
      services: maps.services as Map<string, Service>,
    };
    return { ok: true, model };
  } catch (err) {
    if (!(err instanceof TslError)) throw err;
    return { ok: false, problem: { code: 'TSL_INVALID', params: { reason: err.message } } };
  }
}

/** A short description of a data type for pickers and messages: `float -40..120 °C`, `enum 0 auto, 1 manual`. */
export function describeType(dt: DataType): string {
  switch (dt.type) {
    case 'int':
    case 'float':
    case 'double': {
      const range = dt.min !== undefined || dt.max !== undefined ? ` ${dt.min ?? ''}..${dt.max ?? ''}` : '';
      return `${dt.type}${range}${dt.unit ? ` ${dt.unit}` : ''}`;
    }
    case 'bool':
    case 'enum':
      return `${dt.type} ${[...dt.values].map(([v, label]) => `${v} ${label}`).join(', ')}`.trim();
    case 'text':
      return dt.length === undefined ? 'text' : `text ≤${dt.length}`;
    case 'date':
      return 'date (UTC ms)';
    case 'struct':
      return `struct {${dt.fields.map((f) => f.identifier).join(', ')}}`;
    case 'array':
      return `array of ${describeType(dt.item)}${dt.size === undefined ? '' : ` (≤${dt.size})`}`;
  }
}
