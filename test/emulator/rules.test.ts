// What a connected device may do: its own topics only, QoS 0/1, 256 KB, 30 messages/s upstream.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { Emulator } from '../../emulator/index';
import { connectDevice, eventually, nextMessage, sleep, start } from '../helpers/emulator';

/** The SUBACK code for one filter; mqtt.js rejects a refused one, carrying the SUBACK. */
async function grantOf(client: MqttClient, topic: string, qos: 0 | 1 | 2): Promise<number | undefined> {
  try {
    return (await client.subscribeAsync(topic, { qos }))[0]?.qos;
  } catch (err) {
    return (err as { packet?: { granted?: number[] } }).packet?.granted?.[0];
  }
}

const alice = { productKey: 'pkRules', deviceName: 'alice', deviceSecret: 'a-secret' };
const bob = { productKey: 'pkRules', deviceName: 'bob', deviceSecret: 'b-secret' };

describe('emulator: topic and traffic rules', () => {
  let emu: Emulator;
  let a: MqttClient;
  let b: MqttClient;
  before(async () => {
    emu = await start({ devices: [alice, bob] });
    a = await connectDevice(emu, 'tcp', alice);
    b = await connectDevice(emu, 'tcp', bob);
  });
  after(async () => {
    await Promise.all([a.endAsync(), b.endAsync()]);
    await emu.close();
  });
  const record = (d: typeof alice) => emu.registry.device(d.productKey, d.deviceName)!;

  it("grants subscriptions under the device's own pk/dn and refuses others with 0x80", async () => {
    const filters: [string, 0 | 1 | 2][] = [
      ['/pkRules/alice/user/#', 1],
      ['/sys/pkRules/alice/thing/service/+', 0],
      ['/ext/ntp/pkRules/alice/response', 0],
      ['/shadow/get/pkRules/alice', 1],
      ['/ota/device/upgrade/pkRules/alice', 1],
      ['/pkRules/bob/user/get', 0],
      ['/pkRules/+/user/get', 0],
      ['#', 0],
      ['/sys/pkRules/alice/thing/#', 2],
    ];
    const byTopic: Record<string, number | undefined> = {};
    for (const [topic, qos] of filters) byTopic[topic] = await grantOf(a, topic, qos);
    assert.deepEqual(byTopic, {
      '/pkRules/alice/user/#': 1,
      '/sys/pkRules/alice/thing/service/+': 0,
      '/ext/ntp/pkRules/alice/response': 0,
      '/shadow/get/pkRules/alice': 1,
      '/ota/device/upgrade/pkRules/alice': 1,
      '/pkRules/bob/user/get': 128,
      '/pkRules/+/user/get': 128,
      '#': 128,
      '/sys/pkRules/alice/thing/#': 128,
    });
    assert.equal(record(alice).counters.drops['subscribe-refused'], 4);
    assert.ok(record(alice).subscriptions.has('/pkRules/alice/user/#'));
  });

  it("drops and counts a publish to another device's topic; the other device never sees it", async () => {
    await b.subscribeAsync('/pkRules/bob/user/get', { qos: 1 });
    let leaked = false;
    b.on('message', () => (leaked = true));
    await a.publishAsync('/pkRules/bob/user/get', 'intrusion', { qos: 1 });
    await sleep(200);
    assert.equal(leaked, false);
    assert.equal(record(alice).counters.drops['forbidden-topic'], 1);
    assert.equal(record(alice).online, true, 'the connection stays up');
    b.removeAllListeners('message');
  });

  it('drops a payload over 256 KB and keeps one of exactly 256 KB', async () => {
    const topic = '/pkRules/alice/user/big';
    await a.subscribeAsync(topic, { qos: 1 });
    const got = nextMessage(a, topic);
    await a.publishAsync(topic, Buffer.alloc(256 * 1024 + 1), { qos: 1 });
    await a.publishAsync(topic, Buffer.alloc(256 * 1024), { qos: 1 });
    assert.equal((await got).payload.length, 256 * 1024);
    assert.equal(record(alice).counters.drops['payload-too-large'], 1);
  });

  it('drops what exceeds 30 upstream messages per second, and counts it', async () => {
    const before = record(bob).counters.drops['rate-limit'] ?? 0;
    await sleep(1000); // a fresh one-second window
    await Promise.all(
      Array.from({ length: 45 }, (_, i) => b.publishAsync('/pkRules/bob/user/update', String(i), { qos: 1 })),
    );
    const dropped = (record(bob).counters.drops['rate-limit'] ?? 0) - before;
    assert.ok(dropped >= 15 && dropped <= 45, `dropped ${dropped}`);
  });

  it('refuses a QoS 2 publish by closing the connection, and counts it', async () => {
    const c = await connectDevice(emu, 'tcp', alice);
    a = c;
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    c.publish('/pkRules/alice/user/update', 'x', { qos: 2 });
    await closed;
    c.end(true);
    assert.equal(record(alice).counters.drops.qos2, 1);
    await eventually(() => !record(alice).online, 2000, 'alice offline');
    a = await connectDevice(emu, 'tcp', alice);
  });

  it('does not keep retained messages', async () => {
    const topic = '/pkRules/bob/user/retained';
    await b.publishAsync(topic, 'keep me?', { qos: 1, retain: true });
    const late = await connectDevice(emu, 'tcp', { ...bob, clientId: 'late' });
    b = late;
    let got = false;
    late.on('message', () => (got = true));
    await late.subscribeAsync(topic, { qos: 1 });
    await sleep(200);
    assert.equal(got, false);
  });
});
