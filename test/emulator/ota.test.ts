// OTA upgrades against the emulator, with plain mqtt.js devices (PLATFORM.md §14): the push
// every SDK's parser accepts, the job's life (pending → in progress → succeeded on the version
// report, failed on a negative step or the device timeout), firmware/get, the push again at the next
// session, sub-devices through their gateway, and the API's refusals.
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import type { Emulator } from '../../emulator/index';
import { alinkCall, connectSigned, eventually, https, nextMessage, start, subDeviceSign } from '../helpers/emulator';
import {
  assertEverySdkAccepts,
  download,
  firmwareGetTopic,
  informTopic,
  jobStatus,
  nextPush,
  otaApi,
  progressTopic,
  upgradeTopic,
} from './ota-fixture';

const device = (n: string) => ({ productKey: 'pkOta', deviceName: n, deviceSecret: `${n}-secret` });
const shape = device('shape');
const flow = device('flow');
const failing = device('failing');
const slow = device('slow');
const getter = device('getter');
const sleeper = device('sleeper');
const ss = device('ss');
const corrupt = device('corrupt');
const multi = device('multi');
const bad = device('bad');
const gw = { productKey: 'pkOtaGw', deviceName: 'gw', deviceSecret: 'gw-secret' };
const sub = { productKey: 'pkOtaSub', deviceName: 'sub', deviceSecret: 'sub-secret' };

const firmware = randomBytes(4096);
const b64 = firmware.toString('base64');
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('emulator: OTA upgrades', () => {
  let emu: Emulator;
  const open: MqttClient[] = [];
  const connect = async (d: { productKey: string; deviceName: string; deviceSecret: string }, ext = '') => {
    const client = await connectSigned(emu, d, ext);
    open.push(client);
    return client;
  };
  /** A device as the C SDK 3.x is: it subscribes its upgrade topic after connecting. */
  const listening = async (d: typeof shape) => {
    const client = await connect(d);
    await client.subscribeAsync(upgradeTopic(d), { qos: 1 });
    return client;
  };
  const report = (client: MqttClient, topic: string, body: object | string) =>
    client.publishAsync(topic, typeof body === 'string' ? body : JSON.stringify(body), { qos: 0 });
  const startJob = (d: { productKey: string; deviceName: string }, body: object) => https(emu, 'POST', otaApi(d), body);

  before(async () => {
    emu = await start({
      rateLimit: 0,
      products: [{ productKey: 'pkOtaGw', nodeType: 'gateway' }],
      devices: [shape, flow, failing, slow, getter, sleeper, ss, corrupt, multi, bad, gw, sub],
      log: () => undefined,
    });
  });
  after(async () => {
    for (const client of open) await client.endAsync(true);
    await emu.close();
  });

  it('pushes at once to an online device a push that every SDK parser accepts', async () => {
    const client = await listening(shape);
    const pushed = nextMessage(client, upgradeTopic(shape));
    const extData = { key1: 'value1', _package_udi: '{"ota_notice":"fix"}' };
    const answer = await startJob(shape, { version: '2.0.0', module: 'MCU', firmware: b64, extData });
    assert.equal(answer.status, 200);
    assert.deepEqual([answer.body.code, answer.body.pushed, answer.body.online], ['SUCCESS', true, true]);
    const message = await pushed;
    assert.equal(message.qos, 1);
    const push = JSON.parse(message.payload.toString()) as Parameters<typeof assertEverySdkAccepts>[0];
    assertEverySdkAccepts(push);
    assert.equal(push.id, answer.body.jobId);
    const { data } = push;
    assert.deepEqual(
      [data.version, data.module, data.size, data.md5, data.sign, data.signMethod],
      ['2.0.0', 'MCU', firmware.length, md5(firmware), md5(firmware), 'Md5'],
    );
    assert.deepEqual(data.extData, extData);
    assert.deepEqual(answer.body.data, data, 'the API answers the push data');
    const got = await download(emu, String(data.url));
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(firmware));
    assert.equal(md5(got.body), data.md5);
    const expires = Number(new URL(String(data.url)).searchParams.get('Expires'));
    assert.ok(Math.abs(expires * 1000 - Date.now() - 24 * 3600_000) < 60_000, 'the URL is valid 24 h');
  });

  it('signs with SHA256 on request (md5 still given), leaves module out of a whole-device job', async () => {
    const client = open[0] as MqttClient;
    const pushed = nextPush(client, shape);
    const answer = await startJob(shape, { version: '2.1.0', firmware: b64, signMethod: 'SHA256' });
    assert.equal(answer.status, 200);
    const push = await pushed;
    assertEverySdkAccepts(push);
    assert.deepEqual(
      [push.data.signMethod, push.data.sign, push.data.md5],
      ['SHA256', sha256(firmware), md5(firmware)],
    );
    assert.equal('module' in push.data, false);
    assert.equal('extData' in push.data, false);
    // The doc's spelling "MD5" (refused by L4 on the wire) is taken in the API and sent as "Md5".
    const next = nextPush(client, shape);
    assert.equal((await startJob(shape, { version: '2.1.1', firmware: b64, signMethod: 'MD5' })).status, 200);
    assert.equal((await next).data.signMethod, 'Md5');
  });

  it('moves pending → in progress on progress, and succeeds on the version report, not on step 100', async () => {
    const client = await listening(flow);
    const pushed = nextPush(client, flow);
    await startJob(flow, { version: '1.1.0', module: 'MCU', firmware: b64 });
    await pushed;
    let job = (await https(emu, 'GET', otaApi(flow))).body;
    assert.deepEqual([job.status, job.steps, job.version, job.module], ['pending', [], '1.1.0', 'MCU']);
    // L4 prints a numeric id with a space and no method or version; C3 a step string.
    await report(client, progressTopic(flow), '{"id":12, "params":{"step":"10","desc":"","module":"MCU"}}');
    job = await jobStatus(emu, flow, 'in-progress');
    assert.deepEqual(job.steps, [10]);
    // A step as a number (forgiving), and 100: still in progress until the version is reported.
    await report(client, progressTopic(flow), { id: '13', params: { step: 100, desc: 'done', module: 'MCU' } });
    await eventually(() => emu.ota.jobs.latest(flow)?.steps.length === 2, 5000, 'second step');
    assert.equal((await https(emu, 'GET', otaApi(flow))).body.status, 'in-progress');
    // Another version, or another module's, settles nothing.
    await report(client, informTopic(flow), { id: 14, params: { version: '1.0.0', module: 'MCU' } });
    await report(client, informTopic(flow), { id: 15, params: { version: '1.1.0' } });
    await eventually(() => emu.ota.counters.informs >= 2, 5000, 'informs');
    assert.equal((await https(emu, 'GET', otaApi(flow))).body.status, 'in-progress');
    await report(client, informTopic(flow), { id: '16', params: { version: '1.1.0', module: 'MCU' } });
    job = await jobStatus(emu, flow, 'succeeded');
    assert.deepEqual([job.steps, job.reportedVersion, job.desc], [[10, 100], '1.1.0', 'done']);
    const described = (await https(emu, 'GET', `/api/devices/${flow.productKey}/${flow.deviceName}`)).body;
    assert.deepEqual(described.firmware, { MCU: '1.1.0', default: '1.1.0' });
  });

  it('fails on a negative step, keeping the step and desc', async () => {
    const client = await listening(failing);
    const pushed = nextPush(client, failing);
    await startJob(failing, { version: '3.0.0', firmware: b64 });
    await pushed;
    await report(client, progressTopic(failing), { id: 1, params: { step: '20', desc: '' } });
    await report(client, progressTopic(failing), { id: 2, params: { step: '-2', desc: 'download timed out' } });
    const job = await jobStatus(emu, failing, 'failed');
    assert.deepEqual([job.steps, job.desc, job.reason], [[20, -2], 'download timed out', 'download failed']);
    // A late version report does not revive it.
    await report(client, informTopic(failing), { id: 3, params: { version: '3.0.0' } });
    await eventually(() => emu.registry.device(failing.productKey, failing.deviceName)?.firmware?.default === '3.0.0');
    assert.equal((await https(emu, 'GET', otaApi(failing))).body.status, 'failed');
  });

  it('fails when the device timeout passes without the version report', async () => {
    const client = await listening(slow);
    const pushed = nextPush(client, slow);
    await startJob(slow, { version: '9.9.9', firmware: b64, timeoutMs: 300 });
    await pushed;
    await report(client, progressTopic(slow), { id: 1, params: { step: '50', desc: '' } });
    const job = await jobStatus(emu, slow, 'failed', 5000);
    assert.match(String(job.reason), /timeout/);
    assert.deepEqual(job.steps, [50]);
  });

  it('answers firmware/get with the push data, echoing the id; {} without an open job', async () => {
    const client = await connect(getter);
    const none = await alinkCall(client, firmwareGetTopic(getter), { id: 5, params: {} });
    assert.deepEqual(none, { id: 5, code: 200, data: {}, message: 'success' });
    // Not subscribed to its upgrade topic: the push waits; firmware/get finds the job.
    const answer = await startJob(getter, { version: '4.0.0', module: 'wifi', firmware: b64 });
    assert.equal(answer.body.pushed, false);
    const reply = await alinkCall(client, firmwareGetTopic(getter), { id: 7, params: { module: 'wifi' } });
    assert.deepEqual([reply.id, reply.code, reply.message], [7, 200, 'success']);
    assert.deepEqual(reply.data, answer.body.data);
    assertEverySdkAccepts({
      code: '1000',
      id: 1_700_000_000_000,
      message: 'success',
      data: reply.data as Record<string, unknown>,
    });
    // No module: the device's open job (the doc's request also carries version and method: ignored).
    const any = await alinkCall(client, firmwareGetTopic(getter), {
      id: '8',
      version: '1.0',
      params: {},
      method: 'thing.ota.firmware.get',
    });
    assert.deepEqual([any.id, (any.data as { version?: string }).version], ['8', '4.0.0']);
    const other = await alinkCall(client, firmwareGetTopic(getter), { id: 9, params: { module: 'mcu' } });
    assert.deepEqual(other.data, {});
  });

  it('pushes again at the next session of a device whose job is still open, once per session', async () => {
    const answer = await startJob(sleeper, { version: '5.0.0', firmware: b64 });
    assert.deepEqual([answer.body.pushed, answer.body.online], [false, false]);
    for (let session = 1; session <= 2; session++) {
      const client = await connect(sleeper);
      const pushes: string[] = [];
      client.on('message', (topic) => {
        if (topic === upgradeTopic(sleeper)) pushes.push(topic);
      });
      const pushed = nextPush(client, sleeper);
      await client.subscribeAsync(upgradeTopic(sleeper), { qos: 1 });
      assertEverySdkAccepts(await pushed);
      // Subscribing again in the same session pushes nothing more; firmware/get answers after it, in order.
      await client.subscribeAsync(upgradeTopic(sleeper), { qos: 1 });
      await alinkCall(client, firmwareGetTopic(sleeper), { id: session, params: {} });
      assert.equal(pushes.length, 1, `session ${session}`);
      await client.endAsync();
    }
    // Settled: no push at the next session.
    const client = await connect(sleeper);
    await report(client, informTopic(sleeper), { id: 1, params: { version: '5.0.0' } });
    await jobStatus(emu, sleeper, 'succeeded');
    await client.endAsync();
    const again = await connect(sleeper);
    const seen: string[] = [];
    again.on('message', (topic) => seen.push(topic));
    await again.subscribeAsync(upgradeTopic(sleeper), { qos: 1 });
    await alinkCall(again, firmwareGetTopic(sleeper), { id: 3, params: {} });
    assert.deepEqual(seen, [`${firmwareGetTopic(sleeper)}_reply`]);
  });

  it('reaches a `_ss=1` device without a SUBSCRIBE, at once and when it connects again', async () => {
    let client = await connect(ss, ',_ss=1');
    let pushed = nextPush(client, ss);
    assert.equal((await startJob(ss, { version: '6.0.0', firmware: b64 })).body.pushed, true);
    assertEverySdkAccepts(await pushed);
    await client.endAsync();
    // The push follows the CONNACK at once: the device listens before it connects.
    const id = `${ss.productKey}.${ss.deviceName}`;
    const password = createHmac('sha256', ss.deviceSecret)
      .update(`clientId${id}deviceName${ss.deviceName}productKey${ss.productKey}`)
      .digest('hex');
    client = mqtt.connect(`mqtt://${emu.host}:${emu.ports.mqtt}`, {
      clientId: `${id}|securemode=3,signmethod=hmacsha256,_ss=1|`,
      username: `${ss.deviceName}&${ss.productKey}`,
      password,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    open.push(client);
    pushed = nextPush(client, ss);
    assert.equal((await pushed).data.version, '6.0.0');
  });

  it('serves a corrupt job bytes that do not match md5 or sign (test feature)', async () => {
    const client = await listening(corrupt);
    const pushed = nextPush(client, corrupt);
    const answer = await startJob(corrupt, { version: '7.0.0', firmware: b64, corrupt: true });
    assert.equal((answer.body.job as { corrupt?: boolean }).corrupt, true);
    const push = await pushed;
    assertEverySdkAccepts(push);
    const got = await download(emu, String(push.data.url));
    assert.equal(got.body.length, push.data.size);
    assert.notEqual(md5(got.body), push.data.md5);
    assert.equal(push.data.md5, md5(firmware));
    await report(client, progressTopic(corrupt), { id: 1, params: { step: '-3', desc: 'md5 mismatch' } });
    assert.equal((await jobStatus(emu, corrupt, 'failed')).reason, 'verification failed');
  });

  it('pushes a multi-file package as data.files with one signMethod', async () => {
    const client = await listening(multi);
    const a = randomBytes(1000);
    const b = randomBytes(2000);
    const pushed = nextPush(client, multi);
    const files = [
      { name: 'app.bin', firmware: a.toString('base64') },
      { name: 'res.tar.gz', firmware: b.toString('base64') },
    ];
    assert.equal((await startJob(multi, { version: '8.0.0', files, signMethod: 'SHA256' })).status, 200);
    const push = await pushed;
    assert.deepEqual(
      [push.code, push.message, push.data.version, push.data.signMethod],
      ['1000', 'success', '8.0.0', 'SHA256'],
    );
    const list = push.data.files as { fileName: string; fileSize: number; fileUrl: string; fileSign: string }[];
    assert.deepEqual(
      list.map((f) => [f.fileName, f.fileSize, f.fileSign]),
      [
        ['app.bin', 1000, sha256(a)],
        ['res.tar.gz', 2000, sha256(b)],
      ],
    );
    for (const [i, f] of list.entries()) assert.ok((await download(emu, f.fileUrl)).body.equals([a, b][i] as Buffer));
  });

  it('carries a sub-device job on its gateway: pushed at login, settled by the report through the gateway', async () => {
    const answer = await startJob(sub, { version: '1.2.3', firmware: b64 });
    assert.equal(answer.body.pushed, false);
    const gateway = await connect(gw);
    await gateway.subscribeAsync(upgradeTopic(sub), { qos: 1 });
    const clientId = `${sub.productKey}.${sub.deviceName}`;
    const timestamp = String(Date.now());
    const entry = {
      productKey: sub.productKey,
      deviceName: sub.deviceName,
      clientId,
      timestamp,
      signmethod: 'hmacSha256',
    };
    const signed = { ...entry, sign: subDeviceSign('sha256', sub, clientId, timestamp) };
    const added = await alinkCall(gateway, `/sys/${gw.productKey}/${gw.deviceName}/thing/topo/add`, {
      id: '1',
      params: [signed],
    });
    assert.equal(added.code, 200);
    const pushed = nextPush(gateway, sub);
    const login = `/ext/session/${gw.productKey}/${gw.deviceName}/combine/login`;
    assert.equal(
      (await alinkCall(gateway, login, { id: '2', params: { ...signed, signMethod: 'hmacSha256' } })).code,
      200,
    );
    assertEverySdkAccepts(await pushed);
    await report(gateway, progressTopic(sub), { id: 3, params: { step: '100', desc: '' } });
    await report(gateway, informTopic(sub), { id: 4, params: { version: '1.2.3' } });
    const job = await jobStatus(emu, sub, 'succeeded');
    assert.deepEqual(job.steps, [100]);
  });

  it('replaces an open job of the same module; GET names the newest of each module', async () => {
    await startJob(bad, { version: '1.0.1', module: 'a', firmware: b64 });
    await startJob(bad, { version: '1.0.2', module: 'b', firmware: b64 });
    await startJob(bad, { version: '1.0.3', module: 'a', firmware: b64 });
    const jobs = emu.ota.jobs.jobsOf(bad);
    assert.deepEqual(
      jobs.map((j) => [j.version, j.status, j.reason]),
      [
        ['1.0.1', 'failed', 'replaced by a newer job'],
        ['1.0.2', 'pending', undefined],
        ['1.0.3', 'pending', undefined],
      ],
    );
    const body = (await https(emu, 'GET', otaApi(bad))).body;
    assert.equal(body.version, '1.0.3');
    assert.deepEqual(
      (body.jobs as { version: string }[]).map((j) => j.version),
      ['1.0.3', '1.0.2'],
    );
    assert.equal((await https(emu, 'GET', `${otaApi(bad)}/b`)).body.version, '1.0.2');
    assert.equal((await https(emu, 'GET', `${otaApi(bad)}/nothing`)).status, 404);
    assert.ok(!JSON.stringify(body).includes(b64.slice(0, 40)), 'no firmware bytes in the answer');
  });

  it('refuses bad job bodies with 400 and a message', async () => {
    const many = Array.from({ length: 21 }, (_, i) => ({ name: `f${i}.bin`, firmware: b64 }));
    const bodies: object[] = [
      {},
      { firmware: b64 },
      { version: '', firmware: b64 },
      { version: 2, firmware: b64 },
      { version: 'x'.repeat(65), firmware: b64 },
      { version: '1.0' },
      { version: '1.0', firmware: '' },
      { version: '1.0', firmware: 'not base64!' },
      { version: '1.0', firmware: 12 },
      { version: '1.0', firmware: b64, signMethod: 'sha1' },
      { version: '1.0', firmware: b64, signMethod: 5 },
      { version: '1.0', firmware: b64, protocol: 'ftp' },
      { version: '1.0', firmware: b64, module: 'has space' },
      { version: '1.0', firmware: b64, timeoutMs: -1 },
      { version: '1.0', firmware: b64, extData: 'x' },
      { version: '1.0', firmware: b64, corrupt: 'yes' },
      { version: '1.0', firmware: b64, files: [{ name: 'a', firmware: b64 }] },
      { version: '1.0', files: [] },
      { version: '1.0', files: many },
      {
        version: '1.0',
        files: [
          { name: 'a', firmware: b64 },
          { name: 'a', firmware: b64 },
        ],
      },
      { version: '1.0', files: [{ firmware: b64 }] },
      {
        version: '1.0',
        protocol: 'mqtt',
        files: [
          { name: 'a', firmware: b64 },
          { name: 'b', firmware: b64 },
        ],
      },
    ];
    for (const body of bodies) {
      const answer = await startJob(bad, body);
      assert.equal(answer.status, 400, JSON.stringify(body).slice(0, 120));
      assert.equal(answer.body.code, 'BAD_REQUEST');
      assert.ok(typeof answer.body.message === 'string' && answer.body.message.length > 0);
    }
    assert.equal((await https(emu, 'PUT', otaApi(bad), {})).status, 405);
    assert.equal((await https(emu, 'GET', otaApi(device('nobody')))).status, 404);
  });

  it('counts malformed OTA uplinks and keeps going', async () => {
    const client = await connect(bad);
    const before = emu.ota.counters.malformed;
    await report(client, informTopic(bad), 'not json');
    await report(client, informTopic(bad), { id: 1, params: {} });
    await report(client, progressTopic(bad), { id: 1, params: { step: 'abc' } });
    await report(client, progressTopic(bad), '[1,2]');
    const broken = await alinkCall(client, firmwareGetTopic(bad), '{"id":');
    assert.deepEqual([broken.code, broken.data], [460, {}]);
    await eventually(() => emu.ota.counters.malformed - before === 5, 5000, 'five malformed');
    const fine = await alinkCall(client, firmwareGetTopic(bad), { id: 2, params: { module: 'b' } });
    assert.equal((fine.data as { version?: string }).version, '1.0.2');
  });
});
