// Thing models on the command line: `--tsl pk:file`, `"tsl"` on a product in `--devices` files, and
// the demo lamp's TSL that `--demo` loads (shipped as emulator/demo-tsl.json, kept equal to the
// fixture), which must accept what the examples send.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEMO_TSL, parseCliArgs, USAGE } from '../../emulator/cli-args';
import type { Emulator } from '../../emulator/index';
import { compileTsl } from '../../emulator/thing-model';
import { checkEventPost, checkPropertyPost } from '../../emulator/tsl';
import { refuseProperties, refuseService } from '../../emulator/tsl-api';
import { https } from '../helpers/emulator';
import { demoLamp, DEMO_LAMP_PATH } from './tsl-fixture';

const root = join(__dirname, '..', '..');
const zeroPorts = [
  ...['--mqtt-port', '0', '--mqtts-port', '0', '--ws-port', '0', '--wss-port', '0', '--https-port', '0'],
  ...['--files-port', '0', '--amqp-port', '0'],
];

function tempFile(name: string, content: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), 'emu-tsl-cli-')), name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('emulator CLI: thing models', () => {
  it('--tsl pk:file attaches a TSL to a product, repeatable, and says so in USAGE', () => {
    const options = parseCliArgs([
      '--product',
      'pkA:secret',
      '--tsl',
      `pkA:${DEMO_LAMP_PATH}`,
      '--tsl',
      `pkB:${DEMO_LAMP_PATH}`,
    ]);
    assert.deepEqual(options.products, [
      { productKey: 'pkA', productSecret: 'secret', tsl: demoLamp() },
      { productKey: 'pkB', tsl: demoLamp() },
    ]);
    assert.match(USAGE, /--tsl pk:file\.json/);
    assert.match(USAGE, /"tsl"/);
  });

  it('--tsl names what is wrong: the form, a missing file, a file that is not JSON', () => {
    assert.throws(() => parseCliArgs(['--tsl', 'pkA']), /--tsl must be pk:file\.json/);
    assert.throws(() => parseCliArgs(['--tsl', 'pkA:/no/such/tsl.json']), /--tsl: cannot read \/no\/such\/tsl\.json/);
    const broken = tempFile('broken.json', '{"properties": [');
    assert.throws(() => parseCliArgs(['--tsl', `pkA:${broken}`]), /is not valid JSON/);
  });

  it('reads "tsl" on a product in --devices files: inline, or a path relative to that file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'emu-tsl-devices-'));
    writeFileSync(join(dir, 'lamp.json'), JSON.stringify(demoLamp()));
    const inline = { properties: [] };
    writeFileSync(
      join(dir, 'devices.json'),
      JSON.stringify({
        devices: [{ productKey: 'pkFile', deviceName: 'd', deviceSecret: 's' }],
        products: [
          { productKey: 'pkFile', tsl: 'lamp.json' },
          { productKey: 'pkInline', tsl: inline },
        ],
      }),
    );
    const options = parseCliArgs(['--devices', join(dir, 'devices.json')]);
    assert.deepEqual(options.products, [
      { productKey: 'pkFile', tsl: demoLamp() },
      { productKey: 'pkInline', tsl: inline },
    ]);
  });

  it('--demo loads the demo lamp for a1DemoPk, the shipped copy equal to the fixture', () => {
    assert.deepEqual(DEMO_TSL, demoLamp());
    assert.deepEqual(JSON.parse(readFileSync(join(root, 'emulator', 'demo-tsl.json'), 'utf8')), demoLamp());
    const demo = parseCliArgs(['--demo']).products.find((p) => p.productKey === 'a1DemoPk');
    assert.deepEqual(demo, { productKey: 'a1DemoPk', productSecret: 'demo-product-secret', tsl: DEMO_TSL });
    // The gateway example's sub-device product stays without one.
    assert.equal(parseCliArgs(['--demo']).products.find((p) => p.productKey === 'a1DemoSub')?.tsl, undefined);
  });

  it('the demo TSL accepts what the examples and the demo flow send to a1DemoPk', () => {
    const model = compileTsl(DEMO_TSL, 'a1DemoPk');
    // examples/aliyun-iot-device.json, aliyun-iot-property.json, gateway-register.json (demo-sub-register).
    for (const brightness of [0, 57, 100]) {
      assert.equal(checkPropertyPost(model, { LightSwitch: 1, Brightness: brightness }), undefined);
    }
    assert.equal(checkPropertyPost(model, { Temperature: 21.5, Humidity: 40 }), undefined);
    assert.equal(checkPropertyPost(model, { Power: 42 }), undefined);
    // examples/aliyun-iot-event.json posts Alarm {ErrorCode: 3}.
    assert.equal(checkEventPost(model, 'Alarm', { value: { ErrorCode: 3 }, time: Date.now() }), undefined);
    // examples/aliyun-iot-command.json and scripts/demo-flow.js: property set and the RRPC service Echo.
    assert.equal(refuseProperties(model, { LightSwitch: 1 }), undefined);
    assert.equal(refuseService(model, 'Echo', { n: 1 }), undefined);
    assert.equal(refuseService(model, 'ToggleRelay', { On: 1 }), undefined);
    assert.equal(refuseService(model, 'SetMode', { Mode: 2 }), undefined);
  });

  it('the built CLI serves a --tsl file at /api/products/{pk}/tsl and lists the product as checked', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'emu-tsl-run-'));
    const args = ['--device', 'pkRun:d:s', '--tsl', `pkRun:${DEMO_LAMP_PATH}`, '--data-dir', dataDir, ...zeroPorts];
    const env = { ...process.env, ALIYUN_IOT_EMULATOR_API_TOKEN: '' };
    const child = spawn(process.execPath, [join(root, 'dist', 'emulator', 'cli.js'), ...args], { cwd: root, env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const until = Date.now() + 10_000;
      while (!out.includes('Press Ctrl-C')) {
        if (Date.now() > until) throw new Error(`the CLI did not start:\n${out}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      assert.match(out, /Product pkRun: thing model \(TSL\) checked/);
      const port = Number(/HTTPS\s+https:\/\/[^:]+:(\d+)/.exec(out)?.[1]);
      const ca = readFileSync(join(dataDir, 'ca.pem'), 'utf8');
      const target = { host: '127.0.0.1', ports: { https: port }, ca } as unknown as Emulator;
      const got = await https(target, 'GET', '/api/products/pkRun/tsl');
      assert.deepEqual([got.status, got.body], [200, demoLamp()]);
    } finally {
      child.kill('SIGINT');
      await exited;
    }
  });
});
