// The thing-model validator: every data type and spec at its boundaries, conversions where the
// intent is unambiguous, modules, struct in array, and the export's shape as the console gives it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  checkData,
  checkEventPost,
  checkPropertyPost,
  checkServiceReply,
  cloudDataProblem,
  type Verdict,
} from '../../nodes/lib/tsl-check';
import { describeType, parseTsl, type ThingModel } from '../../nodes/lib/tsl-model';

const num = (type: string, specs: Record<string, string>) => ({ type, specs });
const field = (identifier: string, dataType: unknown) => ({ identifier, name: identifier, dataType });

/** Shaped as the console exports it: specs as strings, the built-in set/get/post entries included. */
const EXPORT = {
  schema: 'https://iotx-tsl.oss-ap-southeast-1.aliyuncs.com/schema.json',
  profile: { version: '1.0', productKey: 'a1Lamp' },
  properties: [
    { ...field('Temperature', num('float', { min: '-40', max: '120', step: '0.1', unit: '°C' })), accessMode: 'rw' },
    { ...field('Humidity', num('int', { min: '0', max: '100', step: '1', unit: '%' })), accessMode: 'r' },
    { ...field('Energy', num('double', { min: '0', max: '1e9' })), accessMode: 'r' },
    { ...field('LightSwitch', { type: 'bool', specs: { '0': 'off', '1': 'on' } }), accessMode: 'rw' },
    { ...field('Mode', { type: 'enum', specs: { '0': 'auto', '1': 'manual', '2': 'eco' } }), accessMode: 'rw' },
    { ...field('Label', { type: 'text', specs: { length: '8' } }), accessMode: 'rw' },
    { ...field('Since', { type: 'date', specs: {} }), accessMode: 'r' },
    {
      ...field('Location', {
        type: 'struct',
        specs: [field('lat', num('double', { min: '-90', max: '90' })), field('lng', num('double', {}))],
      }),
      accessMode: 'r',
    },
    {
      ...field('Points', {
        type: 'array',
        specs: {
          size: '2',
          item: { type: 'struct', specs: [field('x', num('int', {})), field('on', { type: 'bool', specs: {} })] },
        },
      }),
      accessMode: 'r',
    },
    { ...field('Readings', { type: 'array', specs: { size: '3', item: { type: 'float' } } }), accessMode: 'r' },
  ],
  events: [
    { identifier: 'post', name: 'post', type: 'info', method: 'thing.event.property.post', outputData: [] },
    {
      identifier: 'Alarm',
      name: 'Alarm',
      type: 'alert',
      method: 'thing.event.Alarm.post',
      outputData: [
        field('Level', num('int', { min: '1', max: '5' })),
        field('Message', { type: 'text', specs: { length: '16' } }),
      ],
    },
  ],
  services: [
    {
      identifier: 'set',
      name: 'set',
      callType: 'async',
      method: 'thing.service.property.set',
      inputData: [],
      outputData: [],
    },
    {
      identifier: 'get',
      name: 'get',
      callType: 'async',
      method: 'thing.service.property.get',
      inputData: [],
      outputData: [],
    },
    {
      identifier: 'ToggleRelay',
      name: 'Toggle relay',
      callType: 'sync',
      method: 'thing.service.ToggleRelay',
      inputData: [field('On', { type: 'bool', specs: { '0': 'off', '1': 'on' } })],
      outputData: [field('Relay', { type: 'bool', specs: { '0': 'off', '1': 'on' } })],
    },
  ],
};

function model(source: unknown = EXPORT): ThingModel {
  const result = parseTsl(source);
  if (!result.ok) throw new Error(JSON.stringify(result.problem));
  return result.model;
}

const dataType = (id: string) => model().properties.get(id)!.dataType;
const check = (id: string, value: unknown): Verdict => checkData(dataType(id), value, id);
const accepted = (id: string, value: unknown) => {
  const v = check(id, value);
  assert.ok(v.ok, `${id} ${JSON.stringify(value)}: ${JSON.stringify(v)}`);
  return v.value;
};
const code = (id: string, value: unknown) => {
  const v = check(id, value);
  return v.ok ? 'ok' : v.problem.code;
};

describe('thing model (TSL)', () => {
  it('reads an export: identifiers, access, callType, without the built-in set/get/post entries', () => {
    const m = model();
    assert.equal(m.productKey, 'a1Lamp');
    assert.equal(m.properties.size, 10);
    assert.deepEqual([...m.events.keys()], ['Alarm']);
    assert.deepEqual([...m.services.keys()], ['ToggleRelay']);
    assert.equal(m.properties.get('Humidity')!.accessMode, 'r');
    assert.equal(m.services.get('ToggleRelay')!.callType, 'sync');
    assert.equal(describeType(dataType('Temperature')), 'float -40..120 °C');
    assert.equal(describeType(dataType('Mode')), 'enum 0 auto, 1 manual, 2 eco');
    assert.equal(parseTsl(JSON.stringify(EXPORT)).ok, true, 'the JSON text as pasted');
  });

  it("reads the emulator's demo export (written independently) and accepts what the examples send", () => {
    const demo = model(JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'tsl', 'demo-lamp.json'), 'utf8')));
    assert.equal(demo.productKey, 'a1DemoPk');
    assert.ok(['Temperature', 'LightSwitch', 'Schedule', 'InstallDate'].every((id) => demo.properties.has(id)));
    assert.ok(!demo.services.has('get') && !demo.events.has('post'), 'built-ins left out');
    const post = checkPropertyPost(demo, { Temperature: 21.5, Humidity: 40, LightSwitch: true }, 'refuse');
    assert.deepEqual(post.ok && post.value, { Temperature: 21.5, Humidity: 40, LightSwitch: 1 });
    assert.equal(checkEventPost(demo, 'Alarm', { ErrorCode: 3 }, 'refuse').ok, true);
    // Built-ins without a method (a hand-trimmed export) are still recognised by their reserved names.
    const trimmed = model({ services: [{ identifier: 'get', inputData: ['Temperature'], outputData: [] }] });
    assert.equal(trimmed.services.size, 0);
  });

  it('refuses what is not a TSL, saying where', () => {
    const reason = (source: unknown) => {
      const r = parseTsl(source);
      return r.ok ? 'ok' : String(r.problem.params.reason);
    };
    assert.match(reason('{'), /not JSON/);
    assert.match(reason('[1]'), /not an object/);
    assert.match(reason({ properties: [{ name: 'x' }] }), /no identifier/);
    assert.match(reason({ properties: [field('X', { type: 'complex' })] }), /X has the unknown type "complex"/);
    assert.match(reason({ properties: [field('X', num('int', { min: 'low' }))] }), /X min is not a number/);
    assert.match(reason({ properties: {} }), /not a list/);
  });

  it('modules: several blocks, a custom module identifiers as module:identifier', () => {
    const m = model([
      EXPORT,
      {
        functionBlockId: 'pump',
        properties: [{ ...field('Speed', num('int', { min: '0', max: '3000' })), accessMode: 'rw' }],
      },
    ]);
    assert.ok(m.properties.has('pump:Speed') && m.properties.has('Temperature'));
    const post = checkPropertyPost(m, { 'pump:Speed': 3001 }, 'refuse');
    assert.deepEqual(!post.ok && post.problem.params, { identifier: 'pump:Speed', value: '3001', min: 0, max: 3000 });
  });

  it('int: integers in int32 and range, numeric strings converted; 2.5, "2.5", 2^31 refused', () => {
    assert.equal(accepted('Humidity', 0), 0);
    assert.equal(accepted('Humidity', 100), 100);
    assert.equal(accepted('Humidity', '42'), 42);
    assert.equal(code('Humidity', 101), 'TSL_RANGE');
    assert.equal(code('Humidity', -1), 'TSL_RANGE');
    assert.equal(code('Humidity', 2.5), 'TSL_TYPE');
    assert.equal(code('Humidity', '2.5'), 'TSL_TYPE');
    assert.equal(code('Humidity', true), 'TSL_TYPE');
    const wide = { type: 'int' as const, unit: '' };
    assert.equal(checkData(wide, 2147483647, 'n').ok, true);
    assert.equal(checkData(wide, 2147483648, 'n').ok, false);
    assert.equal(checkData(wide, -2147483649, 'n').ok, false);
  });

  it('float and double: decimals kept, range and step checked from the minimum', () => {
    assert.equal(accepted('Temperature', 21.5), 21.5);
    assert.equal(accepted('Temperature', -40), -40);
    assert.equal(accepted('Temperature', 120), 120);
    assert.equal(accepted('Temperature', '36.6'), 36.6);
    assert.equal(accepted('Temperature', 0.3), 0.3, 'float rounding is not a step off');
    assert.equal(code('Temperature', 120.1), 'TSL_RANGE');
    assert.equal(code('Temperature', 21.55), 'TSL_STEP');
    assert.equal(code('Temperature', 'warm'), 'TSL_TYPE');
    assert.equal(code('Temperature', Number.NaN), 'TSL_TYPE');
    assert.equal(accepted('Energy', 123456.789), 123456.789);
    assert.equal(code('Energy', -0.5), 'TSL_RANGE');
  });

  it('bool and enum: true/false become 1/0, "1" becomes 1; values outside the list refused', () => {
    assert.equal(accepted('LightSwitch', true), 1);
    assert.equal(accepted('LightSwitch', false), 0);
    assert.equal(accepted('LightSwitch', '1'), 1);
    assert.equal(code('LightSwitch', 2), 'TSL_ENUM');
    assert.equal(code('LightSwitch', 'on'), 'TSL_TYPE');
    assert.equal(accepted('Mode', 2), 2);
    assert.equal(code('Mode', 3), 'TSL_ENUM');
    assert.equal(code('Mode', true), 'TSL_TYPE', 'a boolean is no enum value');
    const refused = check('Mode', 7);
    assert.deepEqual(!refused.ok && refused.problem.params, { identifier: 'Mode', value: '7', values: '0, 1, 2' });
  });

  it('text: a string within its length in UTF-8 bytes; a number becomes its text', () => {
    assert.equal(accepted('Label', '12345678'), '12345678');
    assert.equal(accepted('Label', '温度'), '温度', 'six bytes in UTF-8');
    assert.equal(code('Label', '温度传感'), 'TSL_LENGTH', 'four characters, twelve bytes');
    assert.equal(accepted('Label', 42), '42');
    assert.equal(code('Label', '123456789'), 'TSL_LENGTH');
    assert.equal(code('Label', { a: 1 }), 'TSL_TYPE');
  });

  it('date: UTC milliseconds as a string; a number or a Date converted, ISO text refused', () => {
    assert.equal(accepted('Since', 1700000000000), '1700000000000');
    assert.equal(accepted('Since', '1700000000000'), '1700000000000');
    assert.equal(accepted('Since', new Date(1700000000000)), '1700000000000');
    assert.equal(code('Since', '2024-01-01T00:00:00Z'), 'TSL_TYPE');
    assert.equal(code('Since', -1), 'TSL_TYPE');
  });

  it('struct: each field checked by name; a missing field allowed, an unknown one refused', () => {
    assert.deepEqual(accepted('Location', { lat: '30.5', lng: 120 }), { lat: 30.5, lng: 120 });
    assert.deepEqual(accepted('Location', { lat: 1 }), { lat: 1 });
    const off = check('Location', { lat: 91 });
    assert.deepEqual(!off.ok && off.problem.params, { identifier: 'Location.lat', value: '91', min: -90, max: 90 });
    assert.equal(code('Location', { lat: 1, alt: 2 }), 'TSL_UNKNOWN');
    assert.equal(code('Location', [1, 2]), 'TSL_TYPE');
  });

  it('array: at most its size, every item of its type; struct items checked field by field', () => {
    assert.deepEqual(accepted('Readings', [1.5, '2', 3]), [1.5, 2, 3]);
    assert.equal(code('Readings', [1, 2, 3, 4]), 'TSL_SIZE');
    assert.equal(code('Readings', 'x'), 'TSL_TYPE');
    assert.deepEqual(accepted('Points', [{ x: 1, on: true }, { x: '2' }]), [{ x: 1, on: 1 }, { x: 2 }]);
    const bad = check('Points', [{ x: 1 }, { x: 1.5 }]);
    assert.equal(!bad.ok && bad.problem.params.identifier, 'Points[1].x');
  });

  it('property post: both forms, converted; unknown identifiers refused or kept by policy', () => {
    const m = model();
    const post = checkPropertyPost(
      m,
      { LightSwitch: true, Temperature: { value: '20.1', time: 1700000000000 } },
      'refuse',
    );
    assert.deepEqual(post.ok && post.value, { LightSwitch: 1, Temperature: { value: 20.1, time: 1700000000000 } });
    const unknown = checkPropertyPost(m, { Tempreature: 20 }, 'refuse');
    assert.deepEqual(!unknown.ok && unknown.problem, { code: 'TSL_UNKNOWN', params: { identifier: 'Tempreature' } });
    const kept = checkPropertyPost(m, { Tempreature: 20, LightSwitch: 0 }, 'warn');
    assert.deepEqual(kept.ok && [kept.value, kept.unknown], [{ Tempreature: 20, LightSwitch: 0 }, ['Tempreature']]);
  });

  it('events, service replies and what the cloud sends, against their data', () => {
    const m = model();
    const alarm = checkEventPost(m, 'Alarm', { Level: '3', Message: 'hot' }, 'refuse');
    assert.deepEqual(alarm.ok && alarm.value, { Level: 3, Message: 'hot' });
    const high = checkEventPost(m, 'Alarm', { Level: 6 }, 'refuse');
    assert.equal(!high.ok && high.problem.params.identifier, 'Alarm.Level');
    assert.equal(!checkEventPost(m, 'Alrm', {}, 'refuse').ok, true);
    assert.deepEqual(checkEventPost(m, 'Alrm', { a: 1 }, 'warn'), { ok: true, value: { a: 1 }, unknown: ['Alrm'] });
    const reply = checkServiceReply(m, 'ToggleRelay', { Relay: true });
    assert.deepEqual(reply.ok && reply.value, { Relay: 1 });
    assert.equal(!checkServiceReply(m, 'ToggleRelay', { Relay: 5 }).ok, true);
    assert.deepEqual(checkServiceReply(m, 'ToggleRelay', undefined), { ok: true, value: {}, unknown: [] });
    assert.equal(cloudDataProblem(m, 'ToggleRelay', { On: 1 }), undefined);
    assert.equal(cloudDataProblem(m, 'ToggleRelay', { On: 'yes' })?.code, 'TSL_TYPE');
    assert.equal(cloudDataProblem(m, 'Reboot', {})?.code, 'TSL_UNKNOWN');
    assert.equal(cloudDataProblem(m, undefined, { Mode: 9 })?.code, 'TSL_ENUM');
  });
});
