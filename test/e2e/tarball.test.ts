// End to end, as a user gets it: the packed tarball installed into a fresh Node-RED user directory
// (as the palette manager does), a real Node-RED process, every example deployed through the Admin
// API and checked against the emulator. E2E_NODE_BINARY / E2E_RED_JS run it on another Node-RED.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Emulator } from '../../emulator/index';
import {
  DEMO_DEVICE,
  DEMO_GATEWAY,
  DEMO_GATEWAY_PRODUCT,
  DEMO_PRODUCT,
  DEMO_TSL,
  DEMO_SUB_DEVICES,
  DEMO_UNREGISTERED,
} from '../../emulator/cli-args';
import * as nr from '../../scripts/node-red-process';
import { eventually, https, start } from '../helpers/emulator';
import { readExample } from '../helpers/examples';
import { installPackedTarball, NODE_RED_UNDER_TEST, startNodeRedUnderTest } from '../helpers/tarball';

const DEMO_SECRET = DEMO_DEVICE.deviceSecret ?? 'demo-device-secret';

const example = readExample;

describe(`end to end: tarball in ${NODE_RED_UNDER_TEST} Node-RED`, () => {
  let emu: Emulator;
  let red: nr.NodeRedProcess;
  let userDir: string;
  let port: number;
  const demo = () => emu.registry.device(DEMO_DEVICE.productKey, DEMO_DEVICE.deviceName)!;

  before(async () => {
    userDir = installPackedTarball().userDir;
    emu = await start({
      devices: [DEMO_DEVICE, ...DEMO_UNREGISTERED, DEMO_GATEWAY, ...DEMO_SUB_DEVICES],
      products: [{ ...DEMO_PRODUCT, tsl: DEMO_TSL }, DEMO_GATEWAY_PRODUCT],
    });
    port = await nr.freePort();
    nr.writeSettings(userDir, {
      port,
      credentialSecret: 'e2e-credential-secret',
      // Registration results must survive a restart: a file-backed context store.
      contextStorage: { default: { module: 'localfilesystem' } },
    });
    red = startRed();
    await red.ready;
  });

  function startRed(): nr.NodeRedProcess {
    return startNodeRedUnderTest(userDir, port);
  }

  after(async () => {
    await red.stop();
    await emu.close();
  });

  it('loads every node type from the installed package', async () => {
    const nodes = (await nr.request('GET', `${red.url}/nodes`, undefined, { accept: 'application/json' })).body as {
      id: string;
      err?: string;
      enabled: boolean;
    }[];
    const ours = nodes.filter((n) => n.id.startsWith(`${nr.PACKAGE}/`));
    assert.deepEqual(ours.map((n) => n.id.split('/').at(-1)).sort(), [
      'aliyun-iot-account',
      'aliyun-iot-amqp-in',
      'aliyun-iot-auth',
      'aliyun-iot-cloud-api',
      'aliyun-iot-command',
      'aliyun-iot-config',
      'aliyun-iot-connect',
      'aliyun-iot-device',
      'aliyun-iot-event',
      'aliyun-iot-ota',
      'aliyun-iot-product',
      'aliyun-iot-property',
      'aliyun-iot-publish',
      'aliyun-iot-reply',
      'aliyun-iot-shadow',
      'aliyun-iot-subscribe',
      'aliyun-iot-tags',
      'aliyun-iot-time',
    ]);
    for (const n of ours) assert.equal(n.err, undefined, `${n.id}: ${String(n.err)}`);
    const installed = readdirSync(join(userDir, 'node_modules', '@iotflow', 'node-red-aliyun-iot'));
    assert.ok(!installed.includes('test') && !installed.includes('bench') && installed.includes('dist'));
  });

  it('publish example: the reading reaches the emulator', async () => {
    await nr.deployFlows(red.url, example('aliyun-iot-publish', emu));
    await eventually(
      () => demo().uplink.some((m) => m.topic === '/a1DemoPk/demo-device/user/update'),
      15_000,
      'uplink',
    );
    assert.deepEqual(JSON.parse(demo().uplink.at(-1)!.payload), { temperature: 21.5, humidity: 40 });
  });

  it('subscribe example: subscribes to user/get and the downlink reaches the debug node', async () => {
    // The example's debug node shows the sidebar only; the console copy makes it visible in the log.
    const flow = example('aliyun-iot-subscribe', emu).map((n) => (n.type === 'debug' ? { ...n, console: true } : n));
    await nr.deployFlows(red.url, flow);
    await eventually(
      () => demo().online && demo().subscriptions.has('/a1DemoPk/demo-device/user/get'),
      15_000,
      'subscribed',
    );
    const mark = `on-${Date.now()}`;
    await emu.platform.publishDown('/a1DemoPk/demo-device/user/get', JSON.stringify({ light: mark }), 1);
    await eventually(() => red.log().includes(mark), 15_000, 'the downlink in the debug output');
  });

  it('connect example: connects without being kicked', async () => {
    await nr.deployFlows(red.url, example('aliyun-iot-connect', emu));
    await eventually(() => demo().online, 15_000, 'online');
    assert.equal(demo().counters.kicks, 0);
  });

  it('device example: a property post is answered and kept', async () => {
    await nr.deployFlows(red.url, example('aliyun-iot-device', emu));
    await eventually(() => demo().properties.LightSwitch === 1, 15_000, 'property kept');
  });

  it('property and event examples: the product node loads and its thing model checks the posts', async () => {
    await nr.deployFlows(red.url, example('aliyun-iot-property', emu));
    await eventually(
      () => demo().properties.Humidity === 40 && demo().properties.Temperature === 21.5,
      15_000,
      'properties posted, accepted by the emulator checking the same thing model',
    );
    await nr.deployFlows(red.url, example('aliyun-iot-event', emu));
    await eventually(
      () => demo().uplink.some((m) => m.topic === '/sys/a1DemoPk/demo-device/thing/event/Alarm/post'),
      15_000,
      'the Alarm event posted',
    );
  });

  it('shadow example: a desired state set before the deploy is applied, reported and cleared', async () => {
    const path = '/api/devices/a1DemoPk/demo-device/shadow';
    assert.equal((await https(emu, 'POST', path, { desired: { LightSwitch: 1 } })).status, 200);
    await nr.deployFlows(red.url, example('aliyun-iot-shadow', emu));
    type Doc = { state: { reported?: Record<string, unknown>; desired?: Record<string, unknown> } };
    const deadline = Date.now() + 15_000;
    let doc = (await https(emu, 'GET', path)).body as unknown as Doc;
    while (!(doc.state.reported?.LightSwitch === 1 && Object.keys(doc.state.desired ?? {}).length === 0)) {
      assert.ok(Date.now() < deadline, `not applied in time: ${JSON.stringify(doc.state)}`);
      await new Promise((r) => setTimeout(r, 100));
      doc = (await https(emu, 'GET', path)).body as unknown as Doc;
    }
  });

  it('OTA example: a job is downloaded over HTTPS, verified, applied and reported; the job succeeds', async () => {
    const api = '/api/devices/a1DemoPk/demo-device';
    await nr.deployFlows(red.url, example('aliyun-iot-ota', emu));
    type Device = { firmware?: Record<string, string> };
    const firmwareOf = async () => ((await https(emu, 'GET', api)).body as Device).firmware ?? {};
    await eventually(async () => (await firmwareOf()).default === '1.0.0', 15_000, '1.0.0 reported at connect');
    const firmware = Buffer.from('e2e firmware 1.1.0').toString('base64');
    assert.equal((await https(emu, 'POST', `${api}/ota`, { version: '1.1.0', firmware })).status, 200);
    type Job = { status: string; steps: number[] };
    const job = async () => (await https(emu, 'GET', `${api}/ota`)).body as unknown as Job;
    await eventually(async () => (await job()).status === 'succeeded', 30_000, 'the job succeeded');
    assert.equal((await firmwareOf()).default, '1.1.0');
    assert.equal((await job()).steps.at(-1), 100);
    // The download URL is signed: neither it nor the device's secret reaches the log.
    assert.ok(!red.log().includes(DEMO_SECRET), 'no secret in the Node-RED log');
  });

  it('config, tags and raw examples: a pushed configuration is verified, tags reach the cloud, raw is answered', async () => {
    const api = '/api/devices/a1DemoPk/demo-device';
    await nr.deployFlows(red.url, example('aliyun-iot-config', emu));
    const push = '/sys/a1DemoPk/demo-device/thing/config/push';
    await eventually(() => demo().online && demo().subscriptions.has(push), 15_000, 'subscribed to pushes');
    const posted = await https(emu, 'POST', '/api/products/a1DemoPk/config', { content: { reportInterval: 30 } });
    assert.equal(posted.status, 200);
    const replies = () => emu.remoteConfig.configs.replies('a1DemoPk');
    await eventually(() => replies().some((r) => r.code === 200), 15_000, 'the push verified and answered 200');

    await nr.deployFlows(red.url, example('aliyun-iot-tags', emu));
    await eventually(() => demo().online, 15_000, 'online');
    type Tags = { tags?: Record<string, string> };
    const tagsOf = async () => ((await https(emu, 'GET', api)).body as Tags).tags ?? {};
    // The inject node's button, as the editor presses it.
    await eventually(
      async () => (await nr.request('POST', `${red.url}/inject/ex-tags-update`)).status === 200,
      15_000,
      'the inject button',
    );
    await eventually(async () => (await tagsOf()).room === 'kitchen', 15_000, 'tags in the cloud');

    await nr.deployFlows(red.url, example('aliyun-iot-raw', emu));
    await eventually(
      () => demo().online && demo().subscriptions.has('/sys/a1DemoPk/demo-device/thing/model/down_raw'),
      15_000,
      'subscribed to raw data',
    );
    const raw = await https(emu, 'POST', `${api}/raw`, { payloadBase64: 'AQID', timeoutMs: 5000 });
    assert.equal((raw.body as { replyBase64?: string }).replyBase64, 'gQID');
  });

  it('register example: registers once; after a Node-RED restart logs in with the kept secret', async () => {
    const registered = () => emu.registry.device('a1DemoPk', 'demo-register')!;
    await nr.deployFlows(red.url, example('auth-register', emu));
    await eventually(() => registered().online, 15_000, 'registered and online');
    await red.stop();
    await eventually(() => !registered().online, 5000, 'logged out');
    red = startRed();
    await red.ready;
    await eventually(() => registered().online, 15_000, 'online after the restart');
    assert.equal(registered().counters.registrations, 1);
    assert.equal(registered().counters.connects, 2);
    const secret = registered().deviceSecret!;
    assert.ok(!red.log().includes(secret) && !red.log().includes('demo-product-secret'), 'no secret in the log');
    assert.ok(!(await nr.request('GET', `${red.url}/flows`)).text.includes('demo-product-secret'));
  });

  it('gateway example: sub-devices post through the gateway; dropped by the cloud, all are back', async () => {
    const meters = DEMO_SUB_DEVICES.map((d) => () => emu.registry.device(d.productKey, d.deviceName)!);
    const gateway = () => emu.registry.device(DEMO_GATEWAY.productKey, DEMO_GATEWAY.deviceName)!;
    await nr.deployFlows(red.url, example('gateway', emu));
    await eventually(() => meters.every((m) => m().online), 15_000, 'every sub-device online');
    await eventually(
      () => meters.every((m) => typeof m().properties.Power === 'number'),
      15_000,
      'a property post of each',
    );
    const connects = gateway().counters.connects;
    const dropped = await https(
      emu,
      'POST',
      `/api/devices/${DEMO_GATEWAY.productKey}/${DEMO_GATEWAY.deviceName}/disconnect`,
    );
    assert.deepEqual(dropped.body, { disconnected: true });
    await eventually(() => meters.every((m) => !m().online), 5000, 'logged out with their gateway');
    // The first reconnect comes within the backoff's first steps; the logins follow at once.
    await eventually(() => meters.every((m) => m().online), 30_000, 'every sub-device back online');
    assert.equal(gateway().counters.connects, connects + 1);
    assert.ok(meters.every((m) => m().via === `${DEMO_GATEWAY.productKey}&${DEMO_GATEWAY.deviceName}`));
  });

  it('exports no secret, and keeps credentials encrypted on disk', async () => {
    const flows = (await nr.request('GET', `${red.url}/flows`)).text;
    assert.ok(flows.includes('aliyun-iot-device'));
    // The last flow deployed is the gateway's: its own and its sub-devices' secrets are checked too.
    const secrets = [DEMO_SECRET, DEMO_GATEWAY.deviceSecret!, ...DEMO_SUB_DEVICES.map((d) => d.deviceSecret!)];
    assert.ok(flows.includes('"gateway":"ex-gw-device"'), 'sub-devices deployed');
    const credsOnDisk = readFileSync(join(userDir, 'flows_cred.json'), 'utf8');
    const onDisk = JSON.parse(credsOnDisk) as Record<string, unknown>;
    assert.deepEqual(Object.keys(onDisk), ['$'], 'flows_cred.json holds only the encrypted blob');
    for (const secret of secrets) {
      assert.ok(!flows.includes(secret), `a secret in GET /flows`);
      assert.ok(!credsOnDisk.includes(secret), 'a secret in flows_cred.json');
      assert.ok(!red.log().includes(secret), 'a secret in the Node-RED log');
    }
  });
});
