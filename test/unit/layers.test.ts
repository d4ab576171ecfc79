// The layers are enforced by lint, not remembered: the import rules of eslint.config.mjs, run on
// deliberate violations and on imports that are allowed.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { Linter } from 'eslint';
import tseslint from 'typescript-eslint';

type FlatConfig = Linter.Config[];

async function layerRules(): Promise<FlatConfig> {
  const url = pathToFileURL(join(__dirname, '..', '..', 'eslint.config.mjs')).href;
  const all = ((await import(url)) as { default: FlatConfig }).default;
  // Only the blocks that carry the import rules: the typed rules need a project, these do not.
  return all
    .filter((block) => block.rules?.['no-restricted-imports'] !== undefined)
    .map((block) => ({ files: block.files, rules: block.rules }));
}

async function restricted(filename: string, source: string): Promise<string[]> {
  const linter = new Linter({ configType: 'flat' });
  const config: FlatConfig = [
    { files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } },
    ...(await layerRules()),
  ];
  return linter
    .verify(source, config, { filename: join(__dirname, '..', '..', filename) })
    .filter((m) => m.ruleId === 'no-restricted-imports')
    .map((m) => m.message);
}

describe('layers', () => {
  const refused: [string, string][] = [
    ['nodes/lib/x.ts', "import type { NodeAPI } from 'node-red';"],
    ['nodes/lib/x.ts', "import { Util } from '@node-red/util';"],
    ['nodes/lib/x.ts', "import { localizedError } from '../support/i18n';"],
    ['nodes/lib/x.ts', "import { startEmulator } from '../../emulator/index';"],
    ['nodes/lib/x.ts', "import register from '../aliyun-iot-publish';"],
    ['emulator/x.ts', "import { signMqtt } from '../nodes/lib/sign';"],
    ['emulator/x.ts', "import { linkDevice } from '../nodes/support/device-link';"],
    ['nodes/aliyun-iot-x.ts', "import { startEmulator } from '../emulator/index';"],
    ['nodes/support/x.ts', "import { startEmulator } from '../../emulator/index';"],
  ];
  for (const [file, source] of refused) {
    it(`refuses in ${file}: ${source}`, async () => {
      assert.equal((await restricted(file, source)).length, 1);
    });
  }

  const allowed: [string, string][] = [
    ['nodes/lib/x.ts', "import { signMqtt } from './sign';"],
    ['nodes/lib/x.ts', "import { connect } from 'mqtt';"],
    ['nodes/support/x.ts', "import { signMqtt } from '../lib/sign';"],
    ['nodes/aliyun-iot-x.ts', "import { linkDevice } from './support/device-link';"],
    ['emulator/x.ts', "import { Registry } from './registry';"],
    ['test/x.ts', "import { startEmulator } from '../emulator/index';"],
  ];
  for (const [file, source] of allowed) {
    it(`allows in ${file}: ${source}`, async () => {
      assert.deepEqual(await restricted(file, source), []);
    });
  }
});
