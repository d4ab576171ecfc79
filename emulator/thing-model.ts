// A product's thing model (物模型) read from the JSON the console exports (物模型 -> 导出物模型, "TSL"):
// `{schema, profile, properties, events, services}`, one such object per module. What the platform
// checks device data against (emulator/tsl.ts) lives here in a form that is quick to look up.
//
// The export format, from the platform's docs and real exports (the Link SDK's examples, the
// GetThingModelTsl and edge GetTSL samples):
// - https://help.aliyun.com/en/iot/user-guide/tsl-parameters (TSL field descriptions, doc 88250);
// - https://help.aliyun.com/en/iot/user-guide/supported-data-types: int32, float, double, text (at most
//   10,240 bytes), date (UTC milliseconds as a string), bool (0/1 stored as int32), enum (integers),
//   struct (no nesting), array of int/float/double/text/struct with 1 to 512 elements.
// - Every spec is a string (`"min":"-40"`); `date` has `"specs":{}` or `"specs":[]`; bool and enum
//   specs map values to labels (`{"0":"off","1":"on"}`); struct specs are a list of
//   `{identifier, name, dataType}`; array specs are `{size, item: {type, specs?}}`.
// - The default module carries the platform's own services `set` (thing.service.property.set) and
//   `get` (thing.service.property.get, whose inputData is a list of identifier strings) and the
//   event `post` (thing.event.property.post): accepted and left out of the lookups, as they only
//   repeat the properties.
// - A custom module (a separate export with `functionBlockId`) names its features
//   `functionBlockId:identifier` in device messages (SetDeviceProperty docs: `testFb:Switch`).
//   UNVERIFIED: how the console exports several modules at once; here `tsl` may be one export or a
//   list of them. A module's `profile.productKey` is not compared with the product (a TSL is often
//   imported into another product).
// Here: a malformed TSL is refused when the emulator starts, naming the place; unknown extra fields
// are ignored.

export type TslType = 'int' | 'float' | 'double' | 'bool' | 'enum' | 'text' | 'date' | 'struct' | 'array';

const TYPES: ReadonlySet<string> = new Set([
  'int',
  'float',
  'double',
  'bool',
  'enum',
  'text',
  'date',
  'struct',
  'array',
]);
const ARRAY_ITEMS: ReadonlySet<string> = new Set(['int', 'float', 'double', 'text', 'struct']);

/** The platform's ceilings (supported-data-types): a spec that leaves them out gets these. */
export const TEXT_MAX_BYTES = 10240;
export const ARRAY_MAX_SIZE = 512;

export interface DataType {
  type: TslType;
  /** int, float, double: inclusive bounds when the specs give them. */
  min?: number;
  max?: number;
  /** text: the most UTF-8 bytes. */
  length?: number;
  /** array: the most elements. */
  size?: number;
  /** bool and enum: the values the specs name; an enum without any takes every int32. */
  values?: ReadonlySet<number>;
  /** struct: its fields. */
  fields?: ReadonlyMap<string, Param>;
  /** array: the type of every element. */
  item?: DataType;
}

export interface Param {
  identifier: string;
  name: string;
  dataType: DataType;
}

export interface Property extends Param {
  /** `r` (read-only) cannot be set from the cloud; `rw` can. */
  accessMode: 'r' | 'rw';
  required: boolean;
}

export interface ThingEvent {
  identifier: string;
  name: string;
  /** info, alert or error. */
  type: string;
  outputs: ReadonlyMap<string, Param>;
}

export interface ThingService {
  identifier: string;
  name: string;
  callType: 'sync' | 'async';
  inputs: ReadonlyMap<string, Param>;
  outputs: ReadonlyMap<string, Param>;
}

/** Keys are the identifiers as devices send them: `identifier`, or `functionBlockId:identifier`. */
export interface ThingModel {
  /** The TSL as given, for `GET /api/products/{pk}/tsl`. */
  readonly tsl: unknown;
  readonly properties: ReadonlyMap<string, Property>;
  readonly events: ReadonlyMap<string, ThingEvent>;
  readonly services: ReadonlyMap<string, ThingService>;
}

/** A TSL the emulator cannot use; the message names the product and the place. */
export class TslError extends Error {}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A spec number: the export writes them as strings; an empty or missing one is no bound. */
function specNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

function dataTypeOf(raw: unknown, at: string): DataType {
  const type = isObject(raw) ? raw.type : undefined;
  if (typeof type !== 'string' || !TYPES.has(type)) {
    throw new TslError(`${at}: unknown data type ${JSON.stringify(type)}`);
  }
  const specs = (raw as Json).specs;
  const spec = isObject(specs) ? specs : {};
  switch (type as TslType) {
    case 'int':
    case 'float':
    case 'double':
      return { type: type as TslType, min: specNumber(spec.min), max: specNumber(spec.max) };
    case 'text':
      return { type: 'text', length: specNumber(spec.length) ?? TEXT_MAX_BYTES };
    case 'date':
      return { type: 'date' };
    case 'bool':
    case 'enum': {
      const values = Object.keys(spec)
        .filter((k) => /^-?\d+$/.test(k))
        .map(Number);
      if (type === 'bool') return { type: 'bool', values: new Set(values.length > 0 ? values : [0, 1]) };
      return values.length > 0 ? { type: 'enum', values: new Set(values) } : { type: 'enum' };
    }
    case 'struct':
      if (!Array.isArray(specs)) throw new TslError(`${at}: a struct's specs must be a list of fields`);
      return { type: 'struct', fields: paramsOf(specs, `${at}.specs`, true) };
    case 'array': {
      const item = dataTypeOf(spec.item, `${at}.specs.item`);
      if (!ARRAY_ITEMS.has(item.type)) throw new TslError(`${at}: an array cannot hold ${item.type}`);
      return { type: 'array', size: specNumber(spec.size) ?? ARRAY_MAX_SIZE, item };
    }
  }
}

/**
 * `[{identifier, name, dataType}]`. Entries that are not objects (the `get` service's identifier
 * strings) are skipped; a struct's fields must all be objects.
 */
function paramsOf(list: unknown, at: string, strict = false): Map<string, Param> {
  const out = new Map<string, Param>();
  if (!Array.isArray(list)) return out;
  for (const [i, entry] of (list as unknown[]).entries()) {
    if (!isObject(entry)) {
      if (strict) throw new TslError(`${at}[${i}] is not {identifier, name, dataType}`);
      continue;
    }
    const identifier = identifierOf(entry, `${at}[${i}]`);
    const dataType = dataTypeOf(entry.dataType, `${at}[${i}] (${identifier})`);
    out.set(identifier, { identifier, name: nameOf(entry, identifier), dataType });
  }
  return out;
}

function identifierOf(entry: Json, at: string): string {
  if (typeof entry.identifier !== 'string' || entry.identifier === '') throw new TslError(`${at} has no identifier`);
  return entry.identifier;
}

const nameOf = (entry: Json, identifier: string) => (typeof entry.name === 'string' ? entry.name : identifier);

/** The platform's own features every default module carries: they repeat the properties. */
function isDefaultEvent(entry: Json): boolean {
  return entry.method === 'thing.event.property.post' || (entry.method === undefined && entry.identifier === 'post');
}

function isDefaultService(entry: Json): boolean {
  const { method, identifier } = entry;
  if (method === 'thing.service.property.set' || method === 'thing.service.property.get') return true;
  return method === undefined && (identifier === 'set' || identifier === 'get');
}

interface Lookups {
  properties: Map<string, Property>;
  events: Map<string, ThingEvent>;
  services: Map<string, ThingService>;
}

function add<T>(map: Map<string, T>, key: string, value: T, at: string): void {
  if (map.has(key)) throw new TslError(`${at}: the identifier ${key} is defined twice`);
  map.set(key, value);
}

function readModule(module: unknown, at: string, into: Lookups): void {
  if (!isObject(module)) throw new TslError(`${at} is not a TSL object`);
  const block = module.functionBlockId;
  const prefix = typeof block === 'string' && block !== '' ? `${block}:` : '';
  const list = (key: string): unknown[] => {
    const value = module[key];
    if (value === undefined) return [];
    if (!Array.isArray(value)) throw new TslError(`${at}.${key} is not a list`);
    return value as unknown[];
  };
  for (const [i, entry] of list('properties').entries()) {
    const place = `${at}.properties[${i}]`;
    if (!isObject(entry)) throw new TslError(`${place} is not an object`);
    const identifier = identifierOf(entry, place);
    const property: Property = {
      identifier,
      name: nameOf(entry, identifier),
      dataType: dataTypeOf(entry.dataType, `${place} (${identifier})`),
      // `r` is read-only; `rw` (and `w` in older exports) can be set. Missing: settable (forgiving).
      accessMode: entry.accessMode === 'r' ? 'r' : 'rw',
      required: entry.required === true,
    };
    add(into.properties, prefix + identifier, property, place);
  }
  for (const [i, entry] of list('events').entries()) {
    const place = `${at}.events[${i}]`;
    if (!isObject(entry)) throw new TslError(`${place} is not an object`);
    if (isDefaultEvent(entry)) continue;
    const identifier = identifierOf(entry, place);
    const event: ThingEvent = {
      identifier,
      name: nameOf(entry, identifier),
      type: typeof entry.type === 'string' ? entry.type : 'info',
      outputs: paramsOf(entry.outputData, `${place}.outputData`),
    };
    add(into.events, prefix + identifier, event, place);
  }
  for (const [i, entry] of list('services').entries()) {
    const place = `${at}.services[${i}]`;
    if (!isObject(entry)) throw new TslError(`${place} is not an object`);
    if (isDefaultService(entry)) continue;
    const identifier = identifierOf(entry, place);
    const service: ThingService = {
      identifier,
      name: nameOf(entry, identifier),
      // The console's default is asynchronous.
      callType: entry.callType === 'sync' ? 'sync' : 'async',
      inputs: paramsOf(entry.inputData, `${place}.inputData`),
      outputs: paramsOf(entry.outputData, `${place}.outputData`),
    };
    add(into.services, prefix + identifier, service, place);
  }
}

/** Reads one export, or a list of them (the default module and custom modules). */
export function compileTsl(tsl: unknown, productKey: string): ThingModel {
  const lookups: Lookups = { properties: new Map(), events: new Map(), services: new Map() };
  const modules = Array.isArray(tsl) ? (tsl as unknown[]) : [tsl];
  for (const [i, module] of modules.entries()) {
    readModule(module, Array.isArray(tsl) ? `tsl of ${productKey}[${i}]` : `tsl of ${productKey}`, lookups);
  }
  return { tsl, ...lookups };
}
