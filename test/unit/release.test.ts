// What gets published, and the Flow Library scorecard rules that can be checked offline.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const root = join(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  license: string;
  keywords: string[];
  repository?: { url?: string };
  engines: { node: string };
  dependencies: Record<string, string>;
  'node-red': { version: string; nodes: Record<string, string> };
};

describe('release', () => {
  it('packs dist, resources, examples, README, LICENSE and CHANGELOG, and nothing from tests or benchmarks', () => {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const out = execFileSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' });
    const files = (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    for (const must of [
      'README.md',
      'LICENSE',
      'CHANGELOG.md',
      'package.json',
      'resources/aliyun-iot-editor.js',
      'dist/certs/aliyun-iot-root-ca.pem',
    ]) {
      assert.ok(files.includes(must), must);
    }
    for (const file of Object.values(pkg['node-red'].nodes)) {
      assert.ok(files.includes(file), file);
      assert.ok(files.includes(file.replace(/\.js$/, '.html')), `${file} editor`);
    }
    assert.ok(files.some((f) => f.startsWith('examples/')));
    for (const f of files) {
      assert.ok(
        /^(dist|resources|examples)\/|^(README\.md|LICENSE|CHANGELOG\.md|package\.json)$/.test(f),
        `unexpected file in the package: ${f}`,
      );
      assert.ok(!/\.test\.|^test\/|^bench\/|^scratch\//.test(f), f);
    }
  });

  it('meets the scorecard rules that hold offline', () => {
    assert.equal(pkg.license, 'Apache-2.0');
    assert.ok(pkg.repository?.url);
    assert.ok(pkg.keywords.includes('node-red'));
    assert.match(pkg['node-red'].version, /^>=\d/);
    assert.match(pkg.engines.node, /^>=\d+/);
    assert.ok(
      Object.keys(pkg.dependencies).length <= 6,
      `${Object.keys(pkg.dependencies).length} runtime dependencies`,
    );
    for (const [type, file] of Object.entries(pkg['node-red'].nodes)) {
      const html = readFileSync(join(root, 'nodes', `${type}.html`), 'utf8');
      assert.match(
        html,
        new RegExp(`RED\\.nodes\\.registerType\\('${type}', \\{`),
        `${type}: literal inline registerType`,
      );
      assert.ok(file.endsWith(`${type}.js`));
    }
    const examples = ['aliyun-iot-publish', 'aliyun-iot-subscribe', 'aliyun-iot-connect'];
    for (const type of examples) {
      assert.ok(existsSync(join(root, 'examples', `${type}.json`)), `example for ${type}`);
      const flow = JSON.parse(readFileSync(join(root, 'examples', `${type}.json`), 'utf8')) as { type: string }[];
      assert.ok(
        flow.some((n) => n.type === type),
        `${type}.json uses ${type}`,
      );
    }
  });
});
