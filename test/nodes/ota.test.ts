// The OTA node against the emulator's OTA jobs and file server: versions reported at every connect
// (and the flow's report remembered across a restart), a firmware download cut halfway resumed and
// verified, corrupted firmware refused with step -3 and never output, the MQTT channel into a
// Buffer, the job judged by the version report, and refused inputs.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually, https } from '../helpers/emulator';
import {
  collect,
  credentialsFor,
  deviceConfig,
  helper,
  inject,
  logged,
  NODES,
  nodeRedSuite,
  stopLikeRestart,
} from '../helpers/flows';
import { fileContextSettings, loadContextStores } from '../helpers/red-internals';

/** One device per test: jobs left open by one test must not answer another's firmware/get. */
const DEVICES = ['modules', 'resume', 'restart', 'corrupt', 'mqtt', 'offer', 'inputs'].map((name) => ({
  productKey: 'pkOta',
  deviceName: `pump-${name}`,
  deviceSecret: `${name}-secret`,
}));
let device = DEVICES[0]!;
const api = () => `/api/devices/${device.productKey}/${device.deviceName}`;
const use = (name: string) => {
  device = DEVICES.find((d) => d.deviceName === `pump-${name}`)!;
};
const firmware = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31 + 7) % 256));

interface Job {
  status: string;
  steps: number[];
  reportedVersion?: string;
}

describe('OTA node', () => {
  const emulator = nodeRedSuite({ devices: DEVICES, rateLimit: 0 });
  const dir = mkdtempSync(join(tmpdir(), 'ota-node-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const job = async () => (await https(emulator(), 'GET', `${api()}/ota`)).body as unknown as Job;
  const firmwareOf = async () =>
    ((await https(emulator(), 'GET', api())).body as { firmware?: Record<string, string> }).firmware ?? {};
  const record = () => {
    const found = emulator().registry.device(device.productKey, device.deviceName);
    assert.ok(found);
    return found;
  };

  async function load(extra: Record<string, unknown> = {}, deviceExtra: Record<string, unknown> = {}) {
    const flow = [
      // TLS: the firmware comes from the emulator's HTTPS file server, trusted by the device's CA.
      deviceConfig(emulator(), device, { transport: 'tls', ...deviceExtra }),
      { id: 'conn', type: 'aliyun-iot-connect', device: 'dev', wires: [] },
      {
        id: 'ota',
        type: 'aliyun-iot-ota',
        device: 'dev',
        version: '1.0.0',
        directory: dir,
        wires: [['out']],
        ...extra,
      },
      { id: 'out', type: 'helper' },
    ];
    await helper.load(NODES, flow, credentialsFor(device));
    return collect('out');
  }

  it('reports the whole device and each module at every connect', async () => {
    use('modules');
    await load({ modules: 'MCU=0.9, WIFI=2.1' });
    await eventually(async () => Object.keys(await firmwareOf()).length === 3, 10_000, 'three reports');
    assert.deepEqual(await firmwareOf(), { default: '1.0.0', MCU: '0.9', WIFI: '2.1' });
  });

  it('resumes a download cut halfway, verifies it, and the version report settles the job', async () => {
    use('resume');
    // The job waits while the flow is not deployed; its link is cut at the first download.
    const started = await emulator().ota.start(record(), {
      version: '2.0.0',
      files: [{ name: 'pump.bin', bytes: firmware }],
    });
    assert.ok(started.ok);
    const url = emulator().ota.pushData(started.job).url as string;
    emulator().files.cutNext(url, 100_000);
    const out = await load();
    await eventually(() => out.some((m) => m.topic === 'upgrade'), 20_000, 'the verified firmware');
    const payload = out.find((m) => m.topic === 'upgrade')!.payload as { file: string; version: string; size: number };
    assert.equal(payload.version, '2.0.0');
    assert.equal(payload.size, firmware.length);
    assert.deepEqual(readFileSync(payload.file), firmware);
    assert.ok(payload.file.startsWith(join(dir, device.productKey, device.deviceName, 'default', '2.0.0')));
    const ranges = emulator()
      .files.requestsFor(url)
      .map((r) => r.range);
    assert.equal(ranges[0], undefined);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(ranges[1] ?? '')?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= 100_000, `resumed with ${String(ranges[1])}`);
    // Progress goes out at QoS 0 behind the device's pace: the last step may come after the output.
    await eventually(async () => (await job()).steps.at(-1) === 100, 10_000, 'progress 100');
    const progress = await job();
    assert.equal(progress.status, 'in-progress', 'progress 100 is not success');
    assert.equal(progress.steps[0], 0);
    assert.equal(progress.steps.at(-1), 100);
    assert.ok(
      progress.steps.every((s, i) => i === 0 || s > progress.steps[i - 1]!),
      progress.steps.join(),
    );
    // The flow applied it: its report is what the platform judges.
    assert.equal(await inject('ota', { action: 'report', version: '2.0.0' }), undefined);
    await eventually(async () => (await job()).status === 'succeeded', 10_000, 'job succeeded');
  });

  describe('with a persistent context store', () => {
    let contextDir = '';
    before(() => {
      contextDir = mkdtempSync(join(tmpdir(), 'ota-context-'));
      helper.settings(fileContextSettings(contextDir));
    });
    after(() => {
      helper.settings({});
      rmSync(contextDir, { recursive: true, force: true });
    });

    it('remembers the version the flow reported across a restart, until the configured one is edited', async () => {
      use('restart');
      // Connected by hand once the context stores are loaded, as Node-RED loads them before the flows.
      const start = async (extra: Record<string, unknown> = {}) => {
        await load(extra, { autoConnect: false });
        await loadContextStores();
        assert.equal(await inject('conn', { action: 'connect' }), undefined);
      };
      await start();
      await eventually(async () => (await firmwareOf()).default === '1.0.0', 10_000, 'configured version');
      assert.equal(await inject('ota', { action: 'report', version: '3.1.0' }), undefined);
      await eventually(async () => (await firmwareOf()).default === '3.1.0', 10_000, 'the report');
      await stopLikeRestart();
      const reports = () => emulator().ota.counters.informs;
      const before = reports();
      await start();
      await eventually(() => reports() > before, 10_000, 'a report after the restart');
      assert.equal((await firmwareOf()).default, '3.1.0');
      await stopLikeRestart();
      await start({ version: '4.0.0' });
      await eventually(async () => (await firmwareOf()).default === '4.0.0', 10_000, 'the edited version');
    });
  });

  it('refuses corrupted firmware with step -3: nothing output, no file left', async () => {
    use('corrupt');
    const errors = () => logged('ota', 'error');
    const out = await load();
    await eventually(async () => (await firmwareOf()).default !== undefined, 10_000, 'connected');
    const started = await emulator().ota.start(record(), {
      version: '6.6.6',
      files: [{ name: 'bad.bin', bytes: firmware }],
      corrupt: true,
    });
    assert.ok(started.ok);
    await eventually(async () => (await job()).status === 'failed', 15_000, 'the job failed');
    assert.ok((await job()).steps.includes(-3));
    assert.equal(out.filter((m) => m.topic === 'upgrade').length, 0);
    await eventually(() => errors().some((e) => /verification/.test(e)), 5000, 'the error');
    assert.equal(existsSync(join(dir, device.productKey, device.deviceName, 'default', '6.6.6', 'bad.bin')), false);
    assert.equal(
      existsSync(join(dir, device.productKey, device.deviceName, 'default', '6.6.6', 'bad.bin.part')),
      false,
    );
  });

  it('takes the MQTT channel into a Buffer, SHA256-verified, for a module', async () => {
    use('mqtt');
    const out = await load({ modules: 'MCU=1.0', download: 'buffer' });
    await eventually(async () => (await firmwareOf()).MCU !== undefined, 10_000, 'connected');
    const small = firmware.subarray(0, 23_456);
    const started = await emulator().ota.start(record(), {
      version: '1.1',
      module: 'MCU',
      protocol: 'mqtt',
      signMethod: 'SHA256',
      files: [{ name: 'mcu.bin', bytes: small }],
    });
    assert.ok(started.ok);
    await eventually(() => out.some((m) => m.topic === 'upgrade'), 20_000, 'the firmware');
    const payload = out.find((m) => m.topic === 'upgrade')!.payload as { firmware: Buffer; module: string };
    assert.equal(payload.module, 'MCU');
    assert.deepEqual(Buffer.from(payload.firmware), small);
    assert.equal(
      createHash('sha256').update(payload.firmware).digest('hex'),
      createHash('sha256').update(small).digest('hex'),
    );
  });

  it('with download off, outputs the offer with its URL; get finds a pending one or says none', async () => {
    use('offer');
    const out = await load({ download: 'off' });
    await eventually(async () => (await firmwareOf()).default !== undefined, 10_000, 'connected');
    assert.equal(await inject('ota', { action: 'get' }), undefined);
    await eventually(() => out.some((m) => m.topic === 'firmware'), 5000, 'no firmware');
    assert.equal(out.find((m) => m.topic === 'firmware')!.payload, null);
    const started = await emulator().ota.start(record(), {
      version: '7.0',
      files: [{ name: 'x.bin', bytes: firmware.subarray(0, 10) }],
    });
    assert.ok(started.ok);
    await eventually(() => out.some((m) => m.topic === 'upgrade'), 10_000, 'the push');
    const offer = out.find((m) => m.topic === 'upgrade')!.payload as { files: { url: string }[]; version: string };
    assert.equal(offer.version, '7.0');
    assert.match(offer.files[0]!.url, /^https:\/\//);
    assert.equal(await inject('ota', { action: 'get' }), undefined);
    await eventually(() => out.filter((m) => m.topic === 'upgrade').length === 2, 5000, 'get forces it out again');
  });

  it('refuses bad inputs with codes, and progress reaches the job', async () => {
    use('inputs');
    await load();
    await eventually(async () => (await firmwareOf()).default !== undefined, 10_000, 'connected');
    const cases: [Record<string, unknown>, string][] = [
      [{ action: 'flash' }, 'OTA_ACTION_INVALID'],
      [{ action: 'report' }, 'OTA_VERSION_INVALID'],
      [{ action: 'report', version: 'x'.repeat(65) }, 'OTA_VERSION_INVALID'],
      [{ action: 'report', version: '1', module: 'a b' }, 'OTA_MODULE_INVALID'],
      [{ action: 'progress', step: 101 }, 'OTA_STEP_INVALID'],
      [{ action: 'progress', step: 1.5 }, 'OTA_STEP_INVALID'],
      [{ action: 'progress', step: '50' }, 'OTA_STEP_INVALID'],
    ];
    for (const [msg, code] of cases) assert.equal((await inject('ota', msg))?.code, code, JSON.stringify(msg));
    const started = await emulator().ota.start(record(), {
      version: '8.0',
      files: [{ name: 'y.bin', bytes: Buffer.from('y') }],
    });
    assert.ok(started.ok);
    assert.equal(await inject('ota', { action: 'progress', step: -4, desc: 'flash write failed' }), undefined);
    await eventually(async () => (await job()).status === 'failed', 10_000, 'burn failure fails the job');
  });
});
