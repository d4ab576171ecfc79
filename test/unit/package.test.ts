// The built package as users get it: the main entry by its name, from a separate `node -e`.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const root = join(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown> & {
  name: string;
  dependencies: Record<string, string>;
  'node-red': { version: string; nodes: Record<string, string> };
};

describe('package', () => {
  it('reproduces every golden vector through the built main entry in a plain node -e', () => {
    const script = `
      const api = require(${JSON.stringify(pkg.name)});
      const v = require('./test/fixtures/signing.json');
      const up = (s) => s.toUpperCase();
      const out = [];
      for (const c of v.mqtt) out.push(up(api.signMqtt({ ...c.params, deviceSecret: c.deviceSecret, signmethod: c.signmethod, securemode: 3 }).password) === up(c.password));
      for (const c of v.httpsAuth) out.push(up(api.signAuth({ ...c.params, deviceSecret: c.deviceSecret, signmethod: c.signmethod }).sign) === up(c.sign));
      for (const c of v.dynamicRegister) out.push(up(api.signRegister({ ...c.params, productSecret: c.productSecret, signmethod: c.signmethod }).sign) === up(c.sign));
      console.log(JSON.stringify(out));`;
    const out = JSON.parse(
      execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' }),
    ) as boolean[];
    assert.equal(out.length, 10);
    assert.ok(out.every(Boolean), JSON.stringify(out));
  });

  it('exports the documented API', () => {
    const names = execFileSync(
      process.execPath,
      ['-e', `console.log(Object.keys(require(${JSON.stringify(pkg.name)})).join())`],
      {
        cwd: root,
        encoding: 'utf8',
      },
    );
    for (const name of ['signMqtt', 'signAuth', 'signRegister', 'resolveEndpoint', 'validateDeviceOptions']) {
      assert.ok(
        names
          .split(',')
          .map((n) => n.trim())
          .includes(name),
        name,
      );
    }
  });

  it('exposes the emulator as a subpath without loading it from the main entry', () => {
    const script = `
      require(${JSON.stringify(pkg.name)});
      const before = Object.keys(require.cache).filter((f) => /node_modules[\\/](aedes|node-forge|ws)[\\/]/.test(f)).length;
      const emu = require(${JSON.stringify(pkg.name + '/emulator')});
      console.log(JSON.stringify({ before, start: typeof emu.startEmulator }));`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' })) as Record<
      string,
      unknown
    >;
    assert.deepEqual(out, { before: 0, start: 'function' });
  });

  it('declares what Node-RED and npm need', () => {
    assert.equal(pkg.name, '@iotflow/node-red-aliyun-iot');
    assert.equal(pkg.license, 'Apache-2.0');
    assert.equal(pkg['node-red'].version, '>=4.0.0');
    assert.deepEqual((pkg.engines as Record<string, string>).node, '>=20');
    for (const k of ['node-red', 'aliyun', 'iot', 'mqtt']) assert.ok((pkg.keywords as string[]).includes(k), k);
    assert.ok(pkg.repository && pkg.bugs);
    assert.match(pkg.dependencies.mqtt ?? '', /^\^5/);
    assert.deepEqual(pkg.bin, { 'aliyun-iot-emulator': 'dist/emulator/cli.js' });
    for (const file of Object.values(pkg['node-red'].nodes)) assert.ok(existsSync(join(root, file)), file);
  });

  it('ships the platform roots and the locales beside the compiled nodes', () => {
    for (const f of ['certs/aliyun-iot-root-ca.pem', 'certs/globalsign-root-ca-r1.pem'])
      assert.ok(existsSync(join(root, 'dist', f)), f);
    for (const lang of ['en-US', 'zh-CN']) {
      assert.ok(existsSync(join(root, 'dist', 'nodes', 'locales', lang, 'aliyun-iot-device.json')), lang);
    }
  });
});
