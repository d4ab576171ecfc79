// Property and event posts against the emulator: replies matched by id, error replies and timeouts
// as done(err) with the code, sys.ack = 0, and bad input refused before anything is sent.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeMessage } from 'node-red';
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

const device = { productKey: 'pkThing', deviceName: 'thing-dev', deviceSecret: 'thing-secret' };

function flow(emu: Emulator, extra: Record<string, unknown> = {}) {
  return [
    deviceConfig(emu, device),
    { id: 'prop', type: 'aliyun-iot-property', device: 'dev', timeout: '2', ack: true, wires: [['out']], ...extra },
    {
      id: 'event',
      type: 'aliyun-iot-event',
      device: 'dev',
      event: '',
      timeout: '2',
      ack: true,
      wires: [['out']],
      ...extra,
    },
    { id: 'out', type: 'helper' },
  ];
}

describe('property and event nodes', () => {
  const emulator = nodeRedSuite({ devices: [device], rateLimit: 0 });
  const record = () => emulator().registry.device(device.productKey, device.deviceName)!;
  const uplinkBodies = () => record().uplink.map((m) => JSON.parse(m.payload) as Record<string, unknown>);

  async function load(extra: Record<string, unknown> = {}) {
    const emu = emulator();
    await helper.load(NODES, flow(emu, extra), credentialsFor(device));
    await connected(emu, device);
    // The reply filter is subscribed before the first post can be answered.
    await eventually(() => record().subscriptions.has('/sys/pkThing/thing-dev/thing/event/+/post_reply'), 3000, 'sub');
    return collect('out');
  }

  it('property post: the post_reply comes out, the values reach the platform, the id is a decimal string', async () => {
    const out = await load();
    assert.equal(
      await inject('prop', { payload: { Temperature: 21.5, Power: { value: 'on', time: 1700000000000 } } }),
      undefined,
    );
    await eventually(() => out.length === 1, 2000, 'reply out');
    assert.deepEqual(out[0]!.payload, { code: 200, message: 'success', data: {} });
    assert.equal(record().properties.Temperature, 21.5);
    assert.equal(record().properties.Power, 'on');
    const body = uplinkBodies().at(-1)!;
    assert.equal(body.method, 'thing.event.property.post');
    assert.match(String(body.id), /^\d{1,10}$/);
    assert.ok(Number(body.id) <= 4294967295);
    assert.deepEqual(body.sys, { ack: 1 });
  });

  it('20 posts at once: each message gets its own reply', async () => {
    const out = await load();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => inject('prop', { payload: { Counter: i }, n: i })),
    );
    assert.deepEqual(results.filter(Boolean), []);
    await eventually(() => out.length === 20, 2000, 'all replies out');
    assert.deepEqual(
      out.map((m) => (m as NodeMessage & { n: number }).n).sort((a, b) => a - b),
      [...Array(20).keys()],
    );
    const ids = uplinkBodies()
      .slice(-20)
      .map((b) => b.id);
    assert.equal(new Set(ids).size, 20, 'ids unique');
  });

  it('an error reply fails the message with the platform code; a missing reply with REPLY_TIMEOUT', async () => {
    const out = await load({ timeout: '0.3' });
    emulator().platform.injectPostReply({ code: 6300, message: 'value out of range' });
    const err = await inject('prop', { payload: { Temperature: 999 } });
    assert.equal(err?.code, 6300);
    assert.match(err.message, /6300: value out of range/);
    emulator().platform.injectPostReply('no-reply');
    const late = await inject('prop', { payload: { Temperature: 1 } });
    assert.equal(late?.code, 'REPLY_TIMEOUT');
    assert.equal(out.length, 0);
  });

  it('sys.ack = 0: completes when sent, outputs nothing', async () => {
    const out = await load({ ack: false });
    assert.equal(await inject('prop', { payload: { Temperature: 3 } }), undefined);
    // The publish completes when it is sent; the emulator records it a moment later (on a busy
    // machine, later still), and until then the last body is an earlier test's post.
    const sent = () => uplinkBodies().find((b) => (b.params as { Temperature?: number }).Temperature === 3);
    await eventually(() => sent() !== undefined, 5000, 'the post at the emulator');
    assert.deepEqual(sent()!.sys, { ack: 0 });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(out.length, 0);
  });

  it('refuses bad property payloads and more than 200 properties before sending', async () => {
    await load();
    const before = record().uplink.length;
    for (const payload of [null, 'Temperature=1', [1, 2], {}, 42]) {
      assert.equal((await inject('prop', { payload }))?.code, 'PROPERTIES_INVALID', JSON.stringify(payload));
    }
    const many = Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`P${i}`, i]));
    const err = await inject('prop', { payload: many });
    assert.equal(err?.code, 'PROPERTIES_TOO_MANY');
    assert.match(err.message, /201 properties/);
    assert.equal(record().uplink.length, before, 'nothing sent');
  });

  it('event post: identifier from msg.event, msg.time passed on, the reply comes out', async () => {
    const out = await load();
    const err = await inject('event', {
      payload: { ErrorCode: 3 },
      event: 'Alarm',
      time: 1700000000123,
    });
    assert.equal(err, undefined);
    await eventually(() => out.length === 1, 2000, 'reply out');
    assert.equal((out[0]!.payload as { code: number }).code, 200);
    const body = uplinkBodies().at(-1)!;
    assert.equal(body.method, 'thing.event.Alarm.post');
    assert.deepEqual(body.params, { value: { ErrorCode: 3 }, time: 1700000000123 });
    assert.equal(record().uplink.at(-1)!.topic, '/sys/pkThing/thing-dev/thing/event/Alarm/post');
  });

  it('event post: missing or bad identifier, value or time are refused', async () => {
    await load();
    assert.equal((await inject('event', { payload: {} }))?.code, 'EVENT_MISSING');
    assert.equal((await inject('event', { payload: {}, event: 'bad/id' }))?.code, 'EVENT_INVALID');
    assert.equal((await inject('event', { payload: 'x', event: 'Alarm' }))?.code, 'EVENT_VALUE_INVALID');
    const badTime = await inject('event', { payload: {}, event: 'Alarm', time: 'now' });
    assert.equal(badTime?.code, 'TIME_INVALID');
  });
});

describe('upstream pacing', () => {
  // The emulator drops beyond 30/s per device, as the platform does.
  const emulator = nodeRedSuite({ devices: [device] });

  it('100 property posts at once: none dropped for rate, never over 30 in any second, all answered', async () => {
    const emu = emulator();
    const flow = [
      deviceConfig(emu, device),
      { id: 'prop', type: 'aliyun-iot-property', device: 'dev', timeout: '10', ack: true, wires: [['out']] },
      { id: 'out', type: 'helper' },
      { id: 'conn', type: 'aliyun-iot-connect', device: 'dev', wires: [['states']] },
      { id: 'states', type: 'helper' },
    ];
    await helper.load(NODES, flow, credentialsFor(device));
    await connected(emu, device);
    const dev = emu.registry.device(device.productKey, device.deviceName)!;
    await eventually(() => flowSubscriptions(dev) === 1, 3000, 'reply filter');
    const states = collect('states');
    const before = dev.uplink.length;
    const started = Date.now();
    const posts = Array.from({ length: 100 }, (_, i) => inject('prop', { payload: { Counter: i } }, 20_000));
    await inject('conn', { action: 'status' });
    await eventually(() => states.length > 0, 2000, 'status out');
    const status = states.at(-1)!.payload as { rateLimit: number; queued: number };
    assert.equal(status.rateLimit, 30);
    assert.ok(status.queued > 50, `queued ${status.queued}`);
    assert.deepEqual((await Promise.all(posts)).filter(Boolean), []);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 3000, `paced over ${elapsed} ms`);
    assert.deepEqual(dev.counters.drops, {});
    const times = dev.uplink.slice(before).map((m) => m.time);
    assert.equal(times.length, 100);
    const busiest = Math.max(...times.map((t) => times.filter((u) => u >= t && u < t + 1000).length));
    assert.ok(busiest <= 30, `${busiest} in one second`);
  });
});
