// Redeploy churn: 200 full and partial deploys with traffic between them keep one connection, lose
// no message and grow no socket, timer or listener.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Emulator } from '../../emulator/index';
import type { DeviceConnection } from '../../nodes/lib/connection';
import { sharedPool } from '../../nodes/lib/pool';
import { eventually } from '../helpers/emulator';
import { connected, credentialsFor, deviceConfig, helper, inject, NODES, nodeRedSuite } from '../helpers/flows';

const device = { productKey: 'pkChurn', deviceName: 'churn', deviceSecret: 'churn-secret' };
const DEPLOYS = 200;

/** Sockets and timers the process holds (Node's own count, as `why-is-node-running` uses). */
const activeHandles = () => (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;

describe('device nodes: redeploy churn', () => {
  const suite = nodeRedSuite({ devices: [device], rateLimit: 0 });
  let emu: Emulator;
  before(() => {
    emu = suite();
  });

  it(`${DEPLOYS} alternating full and partial deploys with traffic`, async () => {
    const flow = (pubName: string) => [
      deviceConfig(emu, device),
      { id: 'pub', type: 'aliyun-iot-publish', device: 'dev', topic: 'user/churn', qos: '1', name: pubName },
      { id: 'sub', type: 'aliyun-iot-subscribe', device: 'dev', topic: 'user/churn' },
    ];
    await helper.load(NODES, flow('start'), credentialsFor(device));
    await connected(emu, device);
    const record = emu.registry.device(device.productKey, device.deviceName)!;
    const connection = () => (helper.getNode('dev') as unknown as { connection: DeviceConnection }).connection;
    const first = connection();
    const handles = activeHandles();
    const inBefore = record.counters.messagesIn;
    for (let i = 0; i < DEPLOYS; i++) {
      // Full deploys restart every node; partial ones only the renamed publish node.
      await helper.setFlows(flow(`p${i}`), i % 2 ? 'full' : 'nodes', credentialsFor(device));
      assert.equal(await inject('pub', { payload: `m${i}` }), undefined);
    }
    await eventually(() => record.counters.messagesIn - inBefore === DEPLOYS, 5000, 'every message');
    assert.equal(record.counters.connects, 1, 'one login for the whole churn');
    assert.equal(record.counters.kicks, 0);
    assert.equal(sharedPool.size, 1);
    assert.equal(connection(), first, 'the same connection handed over every time');
    assert.equal(first.listenerCount('state'), 2, 'one state listener per flow node');
    assert.equal(first.listenerCount('warning'), 1, 'one warning listener per config node');
    assert.ok(activeHandles() <= handles, `handles ${activeHandles()} > ${handles}`);
  });
});
