// Cloud commands through the command and reply nodes against the emulator's cloud side: property
// set, async services, concurrent RRPC, auto-reply, late and second replies; and time sync.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeMessage } from 'node-red';
import type { Emulator } from '../../emulator/index';
import { eventually, https } from '../helpers/emulator';
import {
  logged,
  collect,
  completions,
  connected,
  credentialsFor,
  deviceConfig,
  helper,
  inject,
  NODES,
  nodeRedSuite,
  flowSubscriptions,
} from '../helpers/flows';

const device = { productKey: 'pkCmd', deviceName: 'cmd-dev', deviceSecret: 'cmd-secret' };
const warnings = (id: string) => logged(id, 'warn');

describe('command, reply and time nodes', () => {
  const emulator = nodeRedSuite({ devices: [device], rateLimit: 0 });
  const record = () => emulator().registry.device(device.productKey, device.deviceName)!;

  /** command -> reply (echoing the params as data) and -> a helper that sees every command. */
  async function load(command: Record<string, unknown> = {}, wires = [['reply', 'seen']]) {
    const emu: Emulator = emulator();
    const flow = [
      deviceConfig(emu, device, { rateLimit: '0' }),
      { id: 'cmd', type: 'aliyun-iot-command', device: 'dev', wires, ...command },
      { id: 'reply', type: 'aliyun-iot-reply', device: 'dev' },
      { id: 'seen', type: 'helper' },
      { id: 'time', type: 'aliyun-iot-time', device: 'dev', wires: [['clock']] },
      { id: 'clock', type: 'helper' },
    ];
    await helper.load(NODES, flow, credentialsFor(device));
    await connected(emu, device);
    await eventually(() => flowSubscriptions(record()) >= 3, 3000, 'command filters');
    return collect('seen');
  }

  it('property set: reaches the command node as property/set, the reply reaches the cloud', async () => {
    const seen = await load();
    const answer = await emulator().platform.callThing(record(), 'property/set', { LightSwitch: 1 }, 3000);
    assert.equal(answer.code, 'SUCCESS');
    assert.deepEqual(answer.reply, { id: answer.id, code: 200, data: { LightSwitch: 1 } });
    assert.equal(seen[0]!.topic, 'property/set');
    assert.deepEqual(seen[0]!.payload, { LightSwitch: 1 });
    const aliyun = (seen[0] as NodeMessage & { aliyun: Record<string, unknown> }).aliyun;
    assert.equal(aliyun.kind, 'property-set');
    assert.equal(aliyun.method, 'thing.service.property.set');
    assert.equal(aliyun.id, answer.id);
  });

  it('an async service call: topic service/<id>, a code and message from msg', async () => {
    await load({}, [['seen']]);
    const seen = collect('seen');
    const call = emulator().platform.callThing(record(), 'Reboot', { delay: 5 }, 3000);
    await eventually(() => seen.length === 1, 3000, 'command out');
    assert.equal(seen[0]!.topic, 'service/Reboot');
    const err = await inject('reply', {
      ...seen[0]!,
      payload: { accepted: false },
      code: 100001,
      message: 'busy',
    });
    assert.equal(err, undefined);
    const answer = await call;
    assert.deepEqual(answer.reply, { id: answer.id, code: 100001, data: { accepted: false }, message: 'busy' });
  });

  it('20 concurrent RRPC calls to one service: each gets its own answer', async () => {
    await load({ service: 'Echo' });
    const calls = Array.from({ length: 20 }, (_, n) => emulator().platform.rrpcService(record(), 'Echo', { n }, 5000));
    const answers = await Promise.all(calls);
    answers.forEach((answer, n) => {
      assert.equal(answer.code, 'SUCCESS');
      assert.deepEqual(answer.reply, { id: answer.id, code: 200, data: { n } });
    });
  });

  it('raw RRPC: the payload in, the reply payload back as is', async () => {
    await load();
    const answer = await emulator().platform.rrpc(record(), 'ping', 3000);
    assert.equal(answer.code, 'SUCCESS');
    assert.equal(answer.reply, 'ping');
  });

  it('auto-reply answers 200 at once; a second reply to the same command is refused', async () => {
    const seen = await load({ autoReply: true }, [['seen']]);
    const answer = await emulator().platform.callThing(record(), 'property/set', { Mode: 2 }, 3000);
    assert.deepEqual(answer.reply, { id: answer.id, code: 200, data: {} });
    await eventually(() => seen.length === 1, 2000, 'still output');
    const err = await inject('reply', { ...seen[0]! });
    assert.equal(err?.code, 'REPLY_DUPLICATE');
  });

  it('an RRPC answered after its deadline warns; an unanswered command is reported once', async () => {
    const seen = await load({ rrpcTimeout: '1', timeout: '0.3' }, [['seen']]);
    const late = await emulator().platform.rrpcService(record(), 'Slow', {}, 1000);
    assert.equal(late.code, 'TIMEOUT');
    // The device's deadline started when the request reached it, a moment after the cloud's (on a
    // busy machine, more than a moment): the reply goes once it has passed.
    const { deadline } = (seen[0] as NodeMessage & { aliyun: { deadline: number } }).aliyun;
    await eventually(() => Date.now() > deadline, 5000, "the device's deadline");
    assert.equal(await inject('reply', { ...seen[0]! }), undefined);
    assert.ok(warnings('reply').some((w) => /after its deadline/.test(w)));

    await emulator().platform.callThing(record(), 'Forgotten', {});
    await eventually(() => warnings('cmd').filter((w) => /Forgotten/.test(w)).length === 1, 2000, 'reported');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(warnings('cmd').filter((w) => /Forgotten/.test(w)).length, 1, 'once');
  });

  it('a malformed command is reported with its topic; bad replies are refused', async () => {
    await load();
    await emulator().platform.publishDown('/sys/pkCmd/cmd-dev/thing/service/property/set', 'not json', 0);
    await eventually(
      () => warnings('cmd').some((w) => w.includes('/sys/pkCmd/cmd-dev/thing/service/property/set')),
      2000,
      'warned',
    );
    assert.equal((await inject('reply', { payload: {} }))?.code, 'COMMAND_MISSING');
    const other = {
      kind: 'service',
      productKey: 'pkOther',
      deviceName: 'x',
      id: '1',
      method: 'thing.service.A',
      serviceId: 'A',
      messageId: '',
    };
    assert.equal((await inject('reply', { payload: {}, aliyun: other }))?.code, 'COMMAND_OTHER_DEVICE');
    const mine = { ...other, productKey: device.productKey, deviceName: device.deviceName };
    assert.equal((await inject('reply', { payload: {}, aliyun: mine, code: '200' }))?.code, 'CODE_INVALID');
    assert.equal(completions('reply').length, 3);
  });

  it('time: the offset against the emulator is within a few milliseconds of the real clock', async () => {
    await load();
    const clock = collect('clock');
    assert.equal(await inject('time', { payload: null }), undefined);
    await eventually(() => clock.length === 1, 2000, 'time out');
    const { time, offset, rtt } = clock[0]!.payload as { time: number; offset: number; rtt: number };
    // Emulator and test share one clock: the true offset is 0.
    assert.ok(Math.abs(offset) <= 5, `offset ${offset}`);
    assert.ok(rtt >= 0 && rtt < 500, `rtt ${rtt}`);
    assert.ok(Math.abs(time - Date.now()) < 1000);
  });

  it('through the emulator cloud API over HTTPS: property set and an RRPC service get the device answers', async () => {
    await load();
    const path = `/api/devices/${device.productKey}/${device.deviceName}`;
    const set = await https(emulator(), 'POST', `${path}/properties`, { params: { Mode: 3 }, timeoutMs: 3000 });
    assert.equal(set.status, 200);
    assert.equal(set.body.code, 'SUCCESS');
    assert.deepEqual((set.body.reply as { data: unknown }).data, { Mode: 3 });
    const rrpc = await https(emulator(), 'POST', `${path}/rrpc`, {
      service: 'Echo',
      params: { n: 7 },
      timeoutMs: 3000,
    });
    assert.equal(rrpc.body.code, 'SUCCESS');
    assert.deepEqual((rrpc.body.reply as { data: unknown }).data, { n: 7 });
  });

  it('time: syncs on its own every interval while connected, and not while disconnected', async () => {
    const emu = emulator();
    await helper.load(
      NODES,
      [
        deviceConfig(emu, device),
        // 0.005 min is floored to the 1 s minimum.
        { id: 'time', type: 'aliyun-iot-time', device: 'dev', interval: '0.005', wires: [['clock']] },
        { id: 'clock', type: 'helper' },
        { id: 'conn', type: 'aliyun-iot-connect', device: 'dev' },
      ],
      credentialsFor(device),
    );
    const clock = collect('clock');
    const requests = () => record().uplink.filter((m) => m.topic.endsWith('/request')).length;
    // Deadlines a busy machine meets: three 1 s intervals, plus the login.
    await eventually(() => clock.length >= 3, 20_000, 'three periodic syncs');
    for (const m of clock) {
      const { time, offset, rtt } = m.payload as { time: number; offset: number; rtt: number };
      assert.ok(Number.isInteger(time) && Number.isInteger(offset) && rtt >= 0, JSON.stringify(m.payload));
    }
    assert.equal(await inject('conn', { action: 'disconnect' }), undefined);
    // Whatever was on the wire before the DISCONNECT is counted before the watch starts.
    await eventually(() => !record().online, 10_000, 'logged out');
    const whileOffline = requests();
    const syncs = clock.length;
    // Absence can only be watched for: three intervals pass with the device disconnected.
    await new Promise((resolve) => setTimeout(resolve, 3200));
    assert.equal(requests(), whileOffline, 'no request while disconnected');
    assert.ok(clock.length <= syncs + 1, 'at most the answer already on its way');
    assert.equal(await inject('conn', { action: 'connect' }), undefined);
    await eventually(() => clock.length >= syncs + 2, 20_000, 'syncs again once connected');
  });

  it('two auto-replying command nodes of one device answer a command once', async () => {
    const emu = emulator();
    await helper.load(
      NODES,
      [
        deviceConfig(emu, device),
        { id: 'a', type: 'aliyun-iot-command', device: 'dev', autoReply: true, wires: [[]] },
        { id: 'b', type: 'aliyun-iot-command', device: 'dev', autoReply: true, wires: [[]] },
      ],
      credentialsFor(device),
    );
    await connected(emu, device);
    await eventually(() => flowSubscriptions(record()) >= 3, 3000, 'command filters');
    const answer = await emu.platform.callThing(record(), 'property/set', { Mode: 1 }, 3000);
    assert.equal(answer.code, 'SUCCESS');
    await new Promise((r) => setTimeout(r, 200));
    const replies = record().uplink.filter(
      (m) => m.topic.endsWith('/property/set_reply') && m.payload.includes(`"${answer.id}"`),
    );
    assert.equal(replies.length, 1);
  });
});
