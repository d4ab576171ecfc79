// English and Chinese are both first-class: every code, label and help page exists in both.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MODULE_NAME } from '../../nodes/support/i18n';

const root = join(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  'node-red': { nodes: Record<string, string> };
};
const types = Object.keys(pkg['node-red'].nodes);
const LANGS = ['en-US', 'zh-CN'];

function keysOf(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object') return [prefix];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => keysOf(v, prefix ? `${prefix}.${k}` : k));
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [readFileSync(join(dir, e.name), 'utf8')]
        : [],
  );
}

describe('locales', () => {
  it('the i18n namespace names the published module', () => {
    assert.equal(MODULE_NAME, pkg.name);
  });

  for (const type of types) {
    it(`${type}: messages with the same keys and a help page in en-US and zh-CN`, () => {
      const [en, zh] = LANGS.map(
        (lang) => JSON.parse(readFileSync(join(root, 'locales', lang, `${type}.json`), 'utf8')) as unknown,
      );
      assert.deepEqual(keysOf(zh).sort(), keysOf(en).sort());
      for (const lang of LANGS) {
        const help = join(root, 'locales', lang, `${type}.html`);
        assert.ok(existsSync(help), help);
        assert.match(readFileSync(help, 'utf8'), new RegExp(`data-help-name="${type}"`));
      }
      assert.ok(existsSync(join(root, 'nodes', `${type}.html`)), 'editor template');
    });
  }

  it('labels every port of every flow node, as core nodes do, from the catalogue', () => {
    for (const type of types) {
      const editor = readFileSync(join(root, 'nodes', `${type}.html`), 'utf8');
      const messages = JSON.parse(readFileSync(join(root, 'locales', 'en-US', `${type}.json`), 'utf8')) as Record<
        string,
        { port?: Record<string, string> }
      >;
      for (const [side, labels] of [
        ['inputs', 'inputLabels'],
        ['outputs', 'outputLabels'],
      ] as const) {
        const count = Number(/\b(inputs|outputs): (\d+)/.exec(editor.slice(editor.indexOf(`${side}:`)))?.[2] ?? 0);
        if (count === 0) continue;
        const key = side === 'inputs' ? 'input' : 'output';
        // One label for every port; a node with several outputs picks the others' by the port's index.
        const shape = new RegExp(
          `${labels}: function \\((?:index)?\\) \\{\\s+return (?:index === \\d\\s+\\?\\s+this\\._\\('${type}\\.port\\.\\w+'\\)\\s+:\\s+)*this\\._\\('${type}\\.port\\.${key}'\\)`,
        );
        const labelled = shape.exec(editor);
        assert.ok(labelled, `${type} ${labels}`);
        const keys = [...labelled[0].matchAll(new RegExp(`'${type}\\.port\\.(\\w+)'`, 'g'))].map((m) => m[1]!);
        assert.equal(keys.length, count, `${type}: ${count} ${side}, ${keys.length} labels`);
        for (const k of keys) assert.ok(messages[type]?.port?.[k], `${type} port.${k}`);
      }
    }
  });

  it('every error code the runtime raises has a message in both languages', () => {
    const code = sources(join(root, 'nodes')).join('\n');
    const raised = new Set(
      [...code.matchAll(/(?:codedError\(RED, |AliyunIotError\(|emit\('warning', )'([A-Z_]+)'/g)].map((m) => m[1]!),
    );
    assert.ok(raised.size >= 10, `found ${raised.size}`);
    for (const lang of LANGS) {
      const errors = (
        JSON.parse(readFileSync(join(root, 'locales', lang, 'aliyun-iot-device.json'), 'utf8')) as {
          errors: Record<string, string>;
        }
      ).errors;
      for (const c of raised) assert.ok(errors[c], `${lang} lacks ${c}`);
    }
  });
});
