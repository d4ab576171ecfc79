// What flows send in and what the nodes send out: bad input fails done(err) once, never a crash.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Emulator } from '../../emulator/index';
import { sharedPool } from '../../nodes/lib/pool';
import { eventually, sleep } from '../helpers/emulator';
import {
  collect,
  completions,
  connected,
  credentialsFor,
  deviceConfig,
  helper,
  inject,
  NODES,
  nodeRedSuite,
} from '../helpers/flows';

const device = { productKey: 'pkInput', deviceName: 'inputs', deviceSecret: 'input-secret' };

describe('device nodes: inputs, outputs and status', () => {
  const suite = nodeRedSuite({
    devices: [device, { productKey: 'pkInput', deviceName: 'neighbour', deviceSecret: 'n' }],
    rateLimit: 0,
  });
  let emu: Emulator;
  before(() => {
    emu = suite();
  });
  const record = () => emu.registry.device(device.productKey, device.deviceName)!;

  it('publish: invalid input fails done(err) once with a code; nothing crashes', async () => {
    const flow = [
      deviceConfig(emu, device),
      { id: 'pub', type: 'aliyun-iot-publish', device: 'dev', topic: '', qos: '' },
    ];
    await helper.load(NODES, flow, credentialsFor(device));
    await connected(emu, device);
    const cases: [Record<string, unknown>, string][] = [
      [{ payload: 'x' }, 'TOPIC_MISSING'],
      [{ topic: 'user/#', payload: 'x' }, 'TOPIC_WILDCARD'],
      [{ topic: 'user/+/x', payload: 'x' }, 'TOPIC_WILDCARD'],
      [{ topic: 'user/x', payload: 'x', qos: 2 }, 'QOS_INVALID'],
      [{ topic: 'user/x', payload: 'x', qos: 'high' }, 'QOS_INVALID'],
      [{ topic: 'user/x' }, 'PAYLOAD_INVALID'],
      [{ topic: 'user/x', payload: Buffer.alloc(256 * 1024 + 1) }, 'PAYLOAD_TOO_LARGE'],
    ];
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    cases.push([{ topic: 'user/x', payload: circular }, 'PAYLOAD_INVALID']);
    for (const [msg, code] of cases) {
      const err = await inject('pub', msg);
      assert.equal(err?.code, code, JSON.stringify(Object.keys(msg)));
      assert.ok(err.message.length > 0 && !err.message.includes('input-secret'));
    }
    assert.equal(await inject('pub', { topic: '/${productKey}/${deviceName}/user/abs', payload: [1, 2] }), undefined);
    assert.equal(await inject('pub', { topic: 'user/n', payload: 42, qos: '1' }), undefined);
    await sleep(100);
    assert.equal(completions('pub').length, cases.length + 2, 'done called exactly once per input');
    const uplink = record().uplink.slice(-2);
    assert.deepEqual(
      uplink.map((m) => [m.topic, m.payload]),
      [
        ['/pkInput/inputs/user/abs', '[1,2]'],
        ['/pkInput/inputs/user/n', '42'],
      ],
    );
  });

  it('an invalid config node: red status on its users, localized error on every input', async () => {
    const flow = [
      deviceConfig(emu, device, { keepalive: '10', clientId: 'x'.repeat(65) }),
      { id: 'pub', type: 'aliyun-iot-publish', device: 'dev', topic: 'user/x' },
      { id: 'conn', type: 'aliyun-iot-connect', device: 'dev' },
    ];
    await helper.load(NODES, flow, credentialsFor(device));
    const pub = helper.getNode('pub') as unknown as {
      status: { lastCall: { args: [{ fill: string; text: string }] } };
    };
    assert.equal(pub.status.lastCall.args[0].fill, 'red');
    assert.match(pub.status.lastCall.args[0].text, /Keep alive must be from 30 to 1200/);
    assert.match(pub.status.lastCall.args[0].text, /Client ID must be at most 64/);
    const err = await inject('pub', { payload: 'x' });
    assert.equal(err?.code, 'CONFIG_INVALID');
    assert.equal((await inject('conn', { action: 'connect' }))?.code, 'CONFIG_INVALID');
    assert.equal(sharedPool.size, 0);
  });

  it('TLS verification turned off: a warning on every connect, never silently', async () => {
    const flow = [
      deviceConfig(emu, device, { transport: 'tls', rejectUnauthorized: false, ca: '' }),
      { id: 'conn', type: 'aliyun-iot-connect', device: 'dev' },
    ];
    await helper.load(NODES, flow, credentialsFor(device));
    await connected(emu, device);
    const dev = helper.getNode('dev') as unknown as { warn: { args: unknown[][] } };
    await eventually(() => dev.warn.args.some((a) => /verification is OFF/.test(String(a[0]))), 3000, 'warning');
    const before = dev.warn.args.length;
    assert.equal(await inject('conn', { action: 'reconnect' }), undefined);
    await eventually(() => dev.warn.args.length > before, 3000, 'warned again on the next connect');
  });

  it('a node without a config node says so', async () => {
    await helper.load(NODES, [{ id: 'pub', type: 'aliyun-iot-publish', topic: 'user/x' }]);
    assert.equal((await inject('pub', { payload: 'x' }))?.code, 'CONFIG_MISSING');
  });

  it('connect node: a message per state change, actions, status, and no secrets', async () => {
    const flow = [
      deviceConfig(emu, device, { autoConnect: false }),
      { id: 'conn', type: 'aliyun-iot-connect', device: 'dev', wires: [['states']] },
      { id: 'states', type: 'helper' },
    ];
    await helper.load(NODES, flow, credentialsFor(device));
    const states = collect('states');
    await sleep(300);
    assert.equal(record().online, false, 'auto-connect off: stays idle');
    assert.equal(await inject('conn', { action: 'connect' }), undefined);
    await eventually(() => states.some((m) => m.topic === 'connected'), 5000, 'connected');
    const connectedMsg = states.find((m) => m.topic === 'connected')!;
    assert.deepEqual(Object.keys(connectedMsg.payload as object).sort(), [
      'attempt',
      'clientId',
      'endpoint',
      'queued',
      'rateLimit',
      'resent',
      'restored',
      'state',
    ]);
    assert.deepEqual(
      states.map((m) => m.topic),
      ['connecting', 'connected'],
    );
    assert.equal(await inject('conn', { action: 'status' }), undefined);
    assert.equal(states.at(-1)!.topic, 'connected');
    assert.equal((states.at(-1)!.payload as { clientId: string }).clientId, 'pkInput.inputs');
    assert.equal(await inject('conn', { action: 'disconnect' }), undefined);
    await eventually(() => !record().online && states.at(-1)!.topic === 'stopped', 3000, 'stopped');
    assert.equal((states.at(-1)!.payload as { reason?: string }).reason, 'requested');
    assert.equal(await inject('conn', { action: 'reconnect' }), undefined);
    await eventually(() => record().online, 5000, 'online again');
    assert.equal((await inject('conn', { action: 'explode' }))?.code, 'ACTION_INVALID');
    assert.equal((await inject('conn', {}))?.code, 'ACTION_INVALID');
    assert.ok(!JSON.stringify(states).includes('input-secret'));
  });

  it('subscribe: formats, dynamic subscribe/unsubscribe, refused filters, invalid actions', async () => {
    const flow = [
      deviceConfig(emu, device),
      {
        id: 'subJson',
        type: 'aliyun-iot-subscribe',
        device: 'dev',
        topic: 'user/json',
        format: 'json',
        wires: [['outJson']],
      },
      {
        id: 'subB64',
        type: 'aliyun-iot-subscribe',
        device: 'dev',
        topic: 'user/bin',
        format: 'base64',
        wires: [['outB64']],
      },
      { id: 'dyn', type: 'aliyun-iot-subscribe', device: 'dev', topic: '', wires: [['outDyn']] },
      { id: 'bad', type: 'aliyun-iot-subscribe', device: 'dev', topic: '/pkInput/neighbour/user/get' },
      { id: 'outJson', type: 'helper' },
      { id: 'outB64', type: 'helper' },
      { id: 'outDyn', type: 'helper' },
    ];
    await helper.load(NODES, flow, credentialsFor(device));
    const [json, b64, dyn] = [collect('outJson'), collect('outB64'), collect('outDyn')];
    await connected(emu, device);
    const bad = helper.getNode('bad') as unknown as {
      status: { lastCall: { args: [{ fill: string; text: string }] } };
    };
    await eventually(() => bad.status.lastCall.args[0].fill === 'red', 5000, 'refused subscription shown');
    assert.match(bad.status.lastCall.args[0].text, /refused/);

    const base = `/${device.productKey}/${device.deviceName}`;
    await emu.platform.publishDown(`${base}/user/json`, '{"a":1}', 1);
    await emu.platform.publishDown(`${base}/user/json`, 'not json', 1);
    await emu.platform.publishDown(`${base}/user/bin`, Buffer.from([0xff, 0x00]), 1);
    await eventually(() => json.length === 1 && b64.length === 1, 5000, 'deliveries');
    assert.deepEqual(json[0]!.payload, { a: 1 });
    assert.equal(b64[0]!.payload, '/wA=');
    const jsonNode = helper.getNode('subJson') as unknown as { error: { callCount: number } };
    await eventually(() => jsonNode.error.callCount === 1, 3000, 'bad JSON reported');

    assert.equal(await inject('dyn', { action: 'subscribe', topic: 'user/dyn/+' }), undefined);
    await eventually(() => record().subscriptions.has(`${base}/user/dyn/+`), 5000, 'dynamic subscription');
    await emu.platform.publishDown(`${base}/user/dyn/1`, 'hello', 0);
    await eventually(() => dyn.length === 1, 5000, 'dynamic delivery');
    assert.equal(dyn[0]!.payload, 'hello');
    assert.equal(await inject('dyn', { action: 'unsubscribe', topic: 'user/dyn/+' }), undefined);
    await eventually(() => !record().subscriptions.has(`${base}/user/dyn/+`), 5000, 'unsubscribed');
    assert.equal((await inject('dyn', { action: 'subscribe', topic: 'user/#/x' }))?.code, 'FILTER_INVALID');
    assert.equal((await inject('dyn', { action: 'subscribe' }))?.code, 'TOPIC_MISSING');
    assert.equal((await inject('dyn', { action: 'dance', topic: 'x' }))?.code, 'ACTION_INVALID');
    assert.equal((await inject('dyn', { action: 'subscribe', topic: 'user/q', qos: 2 }))?.code, 'QOS_INVALID');
  });
});
