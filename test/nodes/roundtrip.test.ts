// publish -> emulator -> subscribe through real Node-RED, every transport and sign method.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Emulator } from '../../emulator/index';
import { SIGN_METHODS } from '../../nodes/lib/index';
import { eventually, TRANSPORTS } from '../helpers/emulator';
import {
  collect,
  connected,
  credentialsFor,
  deviceConfig,
  helper,
  inject,
  NODES,
  nodeRedSuite,
  flowSubscriptions,
} from '../helpers/flows';

const device = { productKey: 'pkNodes', deviceName: 'round-trip', deviceSecret: 'rt-secret' };

describe('device nodes: publish -> emulator -> subscribe', () => {
  const suite = nodeRedSuite({ devices: [device], rateLimit: 0 });
  let emu: Emulator;
  before(() => {
    emu = suite();
  });

  for (const transport of TRANSPORTS) {
    for (const signmethod of SIGN_METHODS) {
      it(`${transport} with ${signmethod}: QoS 0 and QoS 1 round-trip`, async () => {
        const flow = [
          deviceConfig(emu, device, { transport, signmethod }),
          { id: 'pub', type: 'aliyun-iot-publish', device: 'dev', topic: 'user/update', qos: '' },
          {
            id: 'sub',
            type: 'aliyun-iot-subscribe',
            device: 'dev',
            topic: 'user/update',
            qos: '1',
            format: 'auto',
            wires: [['out']],
          },
          { id: 'out', type: 'helper' },
        ];
        await helper.load(NODES, flow, credentialsFor(device));
        const got = collect('out');
        await connected(emu, device);
        await eventually(
          () => flowSubscriptions(emu.registry.device(device.productKey, device.deviceName)!) === 1,
          5000,
          'subscribed',
        );
        assert.equal(await inject('pub', { payload: { hello: transport }, qos: 0 }), undefined);
        assert.equal(await inject('pub', { payload: `text-${signmethod}`, qos: 1 }), undefined);
        await eventually(() => got.length === 2, 5000, 'two messages');
        assert.deepEqual(got[0]!.payload, { hello: transport });
        assert.equal(got[0]!.topic, `/${device.productKey}/${device.deviceName}/user/update`);
        assert.equal(got[1]!.payload, `text-${signmethod}`);
        assert.equal(got[1]!.qos, 1);
        assert.deepEqual(got[1]!.aliyun, { productKey: device.productKey, deviceName: device.deviceName });
      });
    }
  }
});
