// Node-RED's conventions: topic and payload as TypedInputs read through RED.util (msg, flow, env,
// JSONata...), a configurable output property, and flows from before these settings still working.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Node } from 'node-red';
import type { Emulator } from '../../emulator/index';
import { eventually } from '../helpers/emulator';
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

const device = { productKey: 'pkTyped', deviceName: 'typed', deviceSecret: 'typed-secret' };

describe('device nodes: TypedInputs and output properties', () => {
  const suite = nodeRedSuite({ devices: [device], rateLimit: 0 });
  let emu: Emulator;
  before(() => {
    emu = suite();
  });
  const record = () => emu.registry.device(device.productKey, device.deviceName)!;
  /**
   * The last message at the emulator, once it is `expected`: the publish completes on its PUBACK,
   * and the emulator's record of it may come a moment later (on a busy machine, later still).
   */
  const uplinkArrives = async (expected: [string, string]) => {
    const last = () => {
      const m = record().uplink.at(-1);
      return m ? [m.topic, m.payload] : [];
    };
    await eventually(
      () => JSON.stringify(last()) === JSON.stringify(expected),
      5000,
      () => `${JSON.stringify(expected)}, last ${JSON.stringify(last())}`,
    );
  };

  it('publish: topic from msg, flow or env; payload from flow context or JSONata', async () => {
    process.env.ALIYUN_IOT_TEST_TOPIC = 'user/from-env';
    const flow = [
      { id: 'tab', type: 'tab', label: 'flow context' },
      deviceConfig(emu, device),
      { id: 'byMsg', type: 'aliyun-iot-publish', device: 'dev', topic: 'target', topicType: 'msg', qos: '1' },
      {
        id: 'byEnv',
        z: 'tab',
        type: 'aliyun-iot-publish',
        device: 'dev',
        topic: 'ALIYUN_IOT_TEST_TOPIC',
        topicType: 'env',
        payload: 'reading',
        payloadType: 'flow',
        qos: '1',
      },
      {
        id: 'byJsonata',
        type: 'aliyun-iot-publish',
        device: 'dev',
        topic: 'user/${deviceName}/sum',
        topicType: 'str',
        payload: '{"sum": $sum(payload), "n": $count(payload)}',
        payloadType: 'jsonata',
        qos: '1',
      },
      {
        id: 'broken',
        type: 'aliyun-iot-publish',
        device: 'dev',
        topic: 'user/x',
        payload: '$sum(',
        payloadType: 'jsonata',
      },
    ];
    await helper.load(NODES, flow, credentialsFor(device));
    await connected(emu, device);

    assert.equal(await inject('byMsg', { target: 'user/by-msg', topic: 'user/ignored', payload: 'a' }), undefined);
    await uplinkArrives(['/pkTyped/typed/user/by-msg', 'a']);

    (helper.getNode('byEnv') as unknown as Node).context().flow.set('reading', { t: 21.5 });
    assert.equal(await inject('byEnv', { payload: 'not this' }), undefined);
    await uplinkArrives(['/pkTyped/typed/user/from-env', '{"t":21.5}']);

    assert.equal(await inject('byJsonata', { payload: [1, 2, 3] }), undefined);
    await uplinkArrives(['/pkTyped/typed/user/typed/sum', '{"sum":6,"n":3}']);

    // A broken expression fails each message with a clear, localized error; nothing is sent.
    const sent = record().uplink.length;
    const err = await inject('broken', { payload: 1 });
    assert.equal(err?.code, 'TYPED_VALUE_INVALID');
    assert.match(err.message, /payload setting \(jsonata\).*Expected/);
    assert.doesNotMatch(err.message, /"stack"|\n/);
    assert.equal(record().uplink.length, sent);

    // A msg-typed topic that is missing is the ordinary missing topic.
    assert.equal((await inject('byMsg', { payload: 'a' }))?.code, 'TOPIC_MISSING');
  });

  it('property and event nodes post data read from a TypedInput', async () => {
    const flow = [
      deviceConfig(emu, device),
      {
        id: 'prop',
        type: 'aliyun-iot-property',
        device: 'dev',
        payload: '{"Temperature": payload.t, "Humidity": payload.h}',
        payloadType: 'jsonata',
        wires: [['replies']],
      },
      { id: 'evt', type: 'aliyun-iot-event', device: 'dev', event: 'Alarm', payload: 'alarm', payloadType: 'msg' },
      { id: 'replies', type: 'helper' },
    ];
    await helper.load(NODES, flow, credentialsFor(device));
    const replies = collect('replies');
    await connected(emu, device);
    assert.equal(await inject('prop', { payload: { t: 22, h: 40 } }), undefined);
    await eventually(() => replies.length === 1, 5000, 'post reply');
    assert.equal(record().properties.Temperature, 22);
    assert.equal(record().properties.Humidity, 40);
    assert.equal(await inject('evt', { alarm: { level: 2 }, payload: 'not this' }), undefined);
    const posted = JSON.parse(record().uplink.at(-1)!.payload) as { params: { value: unknown } };
    assert.deepEqual(posted.params.value, { level: 2 });
  });

  it('subscribe: the data goes to the chosen msg property; older flows still get msg.payload', async () => {
    const flow = [
      deviceConfig(emu, device),
      { id: 'pub', type: 'aliyun-iot-publish', device: 'dev', topic: 'user/update', qos: '1' },
      {
        id: 'nested',
        type: 'aliyun-iot-subscribe',
        device: 'dev',
        topic: 'user/update',
        qos: '1',
        property: 'data.reading',
        wires: [['out1']],
      },
      { id: 'plain', type: 'aliyun-iot-subscribe', device: 'dev', topic: 'user/update', qos: '1', wires: [['out2']] },
      { id: 'out1', type: 'helper' },
      { id: 'out2', type: 'helper' },
    ];
    await helper.load(NODES, flow, credentialsFor(device));
    const nested = collect('out1');
    const plain = collect('out2');
    await connected(emu, device);
    await eventually(() => flowSubscriptions(record()) === 1, 5000, 'subscribed');
    assert.equal(await inject('pub', { payload: { v: 1 } }), undefined);
    await eventually(() => nested.length === 1 && plain.length === 1, 5000, 'delivered to both');
    assert.deepEqual((nested[0]!.data as { reading: unknown }).reading, { v: 1 });
    assert.equal(nested[0]!.payload, undefined);
    assert.equal(nested[0]!.topic, '/pkTyped/typed/user/update');
    assert.deepEqual(plain[0]!.payload, { v: 1 });
  });
});
