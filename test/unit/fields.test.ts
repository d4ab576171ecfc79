// One settings schema: the field table (nodes/lib/fields.ts) is what the runtime defaults to, what
// the editor's bundle declares as the config node's defaults and option lists, where the dialog puts
// each field, and what the help pages state as defaults, in both languages.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runInNewContext } from 'node:vm';
import { CHOICE_FIELDS, DEFAULT_PORTS, FIELDS, FIELD_NAMES, TABS, type Field } from '../../nodes/lib/fields';
import { DEFAULTS, validateDeviceOptions } from '../../nodes/lib/options';
import { CHECKED_FIELDS } from '../../nodes/lib/rules';

const root = join(__dirname, '..', '..');
const LANGS = ['en-US', 'zh-CN'];
const table = FIELDS as Readonly<Record<string, Field>>;
const catalogue = (lang: string) =>
  (JSON.parse(readFileSync(join(root, 'locales', lang, 'aliyun-iot-device.json'), 'utf8')) as Record<string, unknown>)[
    'aliyun-iot-device'
  ] as Record<string, Record<string, string>>;

interface EditorEntry {
  value?: unknown;
  type?: string;
  required?: boolean;
  validate?: (this: object, value: unknown, opt?: object) => boolean | string;
}

/** The generated editor bundle, run as a browser would, with a dialog that is not open. */
function editorBundle(): { deviceDefaults(): Record<'defaults' | 'credentials', Record<string, EditorEntry>> } {
  const window: Record<string, unknown> = {};
  const $ = () => ({ length: 0 });
  const RED = { _: (key: string) => key };
  runInNewContext(readFileSync(join(root, 'resources', 'aliyun-iot-editor.js'), 'utf8'), { window, $, RED });
  return window.AliyunIot as ReturnType<typeof editorBundle>;
}

describe('settings schema (fields.ts)', () => {
  it('gives the runtime its defaults: a minimal device gets every field default', () => {
    const result = validateDeviceOptions({ productKey: 'pk', deviceName: 'dn', deviceSecret: 's' });
    assert.ok(result.ok);
    for (const name of FIELD_NAMES) {
      const field = table[name]!;
      assert.equal(DEFAULTS[name], field.default, name);
      if (field.kind === 'text' || field.credential) continue;
      const expected = name === 'port' ? undefined : field.default;
      assert.equal((result.options as unknown as Record<string, unknown>)[name], expected, name);
    }
  });

  it('is the editor bundle defaults: values, credentials, required fields and the runtime checks', () => {
    const { defaults, credentials } = editorBundle().deviceDefaults();
    for (const name of FIELD_NAMES) {
      const field = table[name]!;
      const entry = (field.credential ? credentials : defaults)[name];
      assert.ok(entry, `${name} declared`);
      if (field.credential) assert.equal(entry.type, 'password', name);
      else assert.equal(entry.value, field.default, name);
      assert.equal(entry.required === true, field.kind === 'text' && field.required === true, `${name} required`);
      if (field.kind === 'text' && field.configType) assert.equal(entry.type, field.configType, `${name} picker`);
      assert.equal(typeof entry.validate === 'function', (CHECKED_FIELDS as readonly string[]).includes(name), name);
    }
    assert.deepEqual(Object.keys({ ...defaults, ...credentials }).sort(), [...FIELD_NAMES].sort());
    // The validators are the runtime's: a bad value fails with the runtime's message code.
    const NS = '@iotflow/node-red-aliyun-iot/aliyun-iot-device:';
    const node = { productKey: 'pk', deviceName: 'dn', transport: 'tls' };
    assert.equal(defaults.keepalive!.validate!.call(node, '5', {}), `${NS}errors.KEEPALIVE_RANGE`);
    assert.equal(defaults.keepalive!.validate!.call(node, '60'), true);
    assert.equal(
      defaults.transport!.validate!.call({ ...node, authMode: 'https' }, 'tcp', {}),
      `${NS}errors.AUTH_NEEDS_TLS`,
    );
  });

  it('lists as choices exactly the fields the table makes choices', () => {
    const choices = FIELD_NAMES.filter((name) => table[name]!.kind === 'choice');
    assert.deepEqual([...choices].sort(), [...CHOICE_FIELDS].sort());
  });

  it('labels every field and every labelled option in both languages', () => {
    for (const lang of LANGS) {
      const messages = catalogue(lang);
      for (const tab of TABS) assert.ok(messages.tabs?.[tab], `${lang} tabs.${tab}`);
      for (const name of FIELD_NAMES) {
        assert.ok(messages.label?.[name], `${lang} label.${name}`);
        const field = table[name]!;
        if (field.kind !== 'choice' || !field.labelled) continue;
        for (const option of field.options) assert.ok(messages[name]?.[option], `${lang} ${name}.${option}`);
      }
    }
  });

  it('puts every field on its tab of the dialog, and the dialog has no field the table lacks', () => {
    const html = readFileSync(join(root, 'nodes', 'aliyun-iot-device.html'), 'utf8');
    const template = html.slice(html.indexOf('data-template-name="aliyun-iot-device"'));
    const tabOf = new Map<string, string>();
    for (const part of template.split(/<div id="aliyun-iot-device-tab-/).slice(1)) {
      const tab = part.slice(0, part.indexOf('"'));
      for (const m of part.matchAll(/id="node-config-input-(\w+)"/g)) tabOf.set(m[1]!, tab);
    }
    for (const name of FIELD_NAMES) assert.equal(tabOf.get(name), table[name]!.tab, name);
    assert.deepEqual([...tabOf.keys()].sort(), [...FIELD_NAMES].sort());
    // Options are filled from the table, not typed into the template.
    assert.doesNotMatch(template, /<option/);
  });

  it('has help pages that state the defaults the table holds', () => {
    const stated = [
      ...FIELD_NAMES.flatMap((name) => {
        const field = table[name]!;
        if (field.kind === 'integer' && field.default !== '') return [String(field.default)];
        return field.kind === 'choice' && !field.labelled ? [field.default] : [];
      }),
      ...Object.values(DEFAULT_PORTS).map(String),
    ];
    for (const lang of LANGS) {
      const help = readFileSync(join(root, 'locales', lang, 'aliyun-iot-device.html'), 'utf8');
      for (const value of stated) assert.match(help, new RegExp(`\\b${value}\\b`), `${lang} help states ${value}`);
    }
  });
});
