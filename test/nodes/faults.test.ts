// Offline queue across a broker restart, refused credentials, and a duplicate login kicking us.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeMessage } from 'node-red';
import mqtt from 'mqtt';
import type { Emulator } from '../../emulator/index';
import { retryDelay } from '../../nodes/lib/backoff';
import { signMqtt } from '../../nodes/lib/index';
import { eventually, sleep, start } from '../helpers/emulator';
import { FaultProxy } from '../helpers/proxy';
import {
  collect,
  connected,
  credentialsFor,
  deviceConfig,
  helper,
  inject,
  NODES,
  nodeRedHooks,
} from '../helpers/flows';

const device = { productKey: 'pkFault', deviceName: 'faulty', deviceSecret: 'fault-secret' };

describe('device nodes: faults', () => {
  let emu: Emulator | undefined;
  let proxy: FaultProxy | undefined;
  nodeRedHooks(
    () => emu,
    async () => {
      await proxy?.close();
      proxy = undefined;
      await emu?.close();
      emu = undefined;
    },
  );

  it('queues publishes while the broker is down and delivers them in order after it restarts', async () => {
    emu = await start({ devices: [device], rateLimit: 0 });
    // Through a proxy the test keeps: the restarted emulator listens wherever the OS lets it.
    proxy = await FaultProxy.start({ host: emu.host, port: emu.ports.mqtt });
    const flow = [
      deviceConfig(emu, device, { queueSize: '5', host: '127.0.0.1', port: String(proxy.port) }),
      { id: 'pub', type: 'aliyun-iot-publish', device: 'dev', topic: 'user/seq', qos: '1' },
      { id: 'conn', type: 'aliyun-iot-connect', device: 'dev', wires: [['states']] },
      { id: 'states', type: 'helper' },
    ];
    await helper.load(NODES, flow, credentialsFor(device));
    const states = collect('states');
    await connected(emu, device);
    proxy.retarget(undefined);
    await emu.close();
    await eventually(() => states.some((m) => m.topic === 'disconnected'), 5000, 'disconnected state');

    // Accepted while offline: settled only once the restarted broker acknowledges them.
    const pending = [1, 2, 3, 4, 5].map((n) => inject('pub', { payload: `m${n}` }));
    const overflow = await inject('pub', { payload: 'm6' });
    assert.equal(overflow?.code, 'QUEUE_FULL');

    emu = await start({ devices: [device], rateLimit: 0 });
    proxy.retarget({ host: emu.host, port: emu.ports.mqtt });
    const results = await Promise.all(pending);
    assert.deepEqual(results, [undefined, undefined, undefined, undefined, undefined]);
    const uplink = emu.registry.device(device.productKey, device.deviceName)!.uplink.map((m) => m.payload);
    assert.deepEqual(uplink, ['m1', 'm2', 'm3', 'm4', 'm5']);
  });

  it('fails publishes at once when the queue is off and the device is offline', async () => {
    emu = await start({ devices: [device] });
    const flow = [
      deviceConfig(emu, device, { queueSize: '0', autoConnect: false }),
      { id: 'pub', type: 'aliyun-iot-publish', device: 'dev', topic: 'user/x' },
    ];
    await helper.load(NODES, flow, credentialsFor(device));
    const err = await inject('pub', { payload: 'x' });
    assert.equal(err?.code, 'NOT_CONNECTED');
  });

  it('wrong secret: auth-failed with the code, and login attempts stay bounded', async () => {
    emu = await start({ devices: [device] });
    const flow = [
      deviceConfig(emu, device),
      { id: 'conn', type: 'aliyun-iot-connect', device: 'dev', wires: [['states']] },
      { id: 'states', type: 'helper' },
    ];
    await helper.load(NODES, flow, credentialsFor({ ...device, deviceSecret: 'wrong' }));
    const states = collect('states');
    await eventually(() => states.some((m) => m.topic === 'auth-failed'), 5000, 'auth-failed');
    const failed = states.find((m) => m.topic === 'auth-failed')!.payload as Record<string, unknown>;
    assert.equal(failed.code, 4);
    // The shipped policy: no second attempt within 60 s of a refused login.
    assert.ok(Number(failed.nextRetryMs) >= 60_000, `next retry in ${String(failed.nextRetryMs)} ms`);
    assert.ok(!JSON.stringify(states).includes('wrong'), 'no secret in the output');
    const status = helper.getNode('conn') as unknown as {
      status: { lastCall: { args: [{ text: string; fill: string }] } };
    };
    assert.equal(status.status.lastCall.args[0].fill, 'red');
    assert.match(status.status.lastCall.args[0].text, /4/);
    await sleep(2500);
    assert.equal(emu.registry.device(device.productKey, device.deviceName)!.counters.refused['bad-signature'], 1);
    // With the shipped policy a refused login is retried at most once a minute, growing to 15 minutes.
    for (let attempt = 1; attempt <= 10; attempt++) assert.ok(retryDelay(attempt, true) >= 60_000);
    assert.ok(
      retryDelay(1, false, undefined, () => 0) === 1000 && retryDelay(20, false, undefined, () => 0) === 60_000,
    );
  });

  it('a wrong secret fixed by a redeploy connects at once, without waiting out the backoff', async () => {
    emu = await start({ devices: [device] });
    const flow = [deviceConfig(emu, device), { id: 'conn', type: 'aliyun-iot-connect', device: 'dev' }];
    await helper.load(NODES, flow, credentialsFor({ ...device, deviceSecret: 'wrong' }));
    const record = emu.registry.device(device.productKey, device.deviceName)!;
    await eventually(() => record.counters.refused['bad-signature'] === 1, 5000, 'refused login');
    await helper.setFlows(flow, 'full', credentialsFor(device));
    await connected(emu, device);
    assert.equal(record.counters.refused['bad-signature'], 1, 'no further refused attempt');
  });

  it('reports kicked when an outside client with the same credentials keeps logging in', async () => {
    emu = await start({ devices: [device] });
    const flow = [
      deviceConfig(emu, device),
      { id: 'conn', type: 'aliyun-iot-connect', device: 'dev', wires: [['states']] },
      { id: 'states', type: 'helper' },
    ];
    await helper.load(NODES, flow, credentialsFor(device));
    const states: NodeMessage[] = collect('states');
    await connected(emu, device);
    const outsider = mqtt.connect(`mqtt://${emu.host}:${emu.ports.mqtt}`, {
      ...signMqtt({ ...device, clientId: 'outsider', securemode: 3 }),
      keepalive: 60,
      reconnectPeriod: 150,
    });
    outsider.on('error', () => undefined);
    try {
      await eventually(() => states.some((m) => m.topic === 'kicked'), 15_000, 'kicked state');
    } finally {
      outsider.end(true);
    }
    const kicked = states.find((m) => m.topic === 'kicked')!.payload as Record<string, unknown>;
    assert.match(String(kicked.reason), /another client/);
    assert.ok(emu.registry.device(device.productKey, device.deviceName)!.counters.kicks >= 3);
  });
});
