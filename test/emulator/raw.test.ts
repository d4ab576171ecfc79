// Raw (pass-through) data (PLATFORM.md §16.1, DOC:89301): bytes up on `thing/model/up_raw` with
// bytes back on `up_raw_reply` (the emulator's stand-in for the product script), bytes down on
// `thing/model/down_raw`, and the device's answer read back (on `down_raw_reply` or `up_raw`).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { Emulator } from '../../emulator/index';
import { connectSigned, https, nextMessage, start } from '../helpers/emulator';
import { apiOf, collect, sysOf } from './device-fixture';

const plug = { productKey: 'pkRaw', deviceName: 'plug', deviceSecret: 'plug-secret' };
const idle = { productKey: 'pkRaw', deviceName: 'idle', deviceSecret: 'idle-secret' };
const up = `${sysOf(plug)}/thing/model/up_raw`;
const down = `${sysOf(plug)}/thing/model/down_raw`;
/** Bytes that are no UTF-8 text: a lossy text view would change them. */
const BINARY = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0xc3, 0x28, 0x0a]);

describe('emulator: raw data', () => {
  let emu: Emulator;
  let client: MqttClient;
  before(async () => {
    emu = await start({ rateLimit: 0, devices: [plug, idle] });
    client = await connectSigned(emu, plug);
  });
  after(async () => {
    await client.endAsync(true);
    await emu.close();
  });

  it('answers up_raw with bytes on up_raw_reply and keeps the bytes whole', async () => {
    await client.subscribeAsync(`${up}_reply`, { qos: 0 });
    const reply = nextMessage(client, `${up}_reply`);
    await client.publishAsync(up, BINARY, { qos: 0 });
    const answer = JSON.parse((await reply).payload.toString('utf8')) as Record<string, unknown>;
    assert.deepEqual(
      { ...answer, id: undefined },
      {
        code: 200,
        data: {},
        id: undefined,
        message: 'success',
        version: '1.0',
        method: 'thing.model.up_raw',
      },
    );
    assert.match(String(answer.id), /^\d+$/);
    const messages = (await https(emu, 'GET', `${apiOf(plug)}/messages`)).body as unknown as {
      topic: string;
      payloadBase64?: string;
    }[];
    assert.equal(messages.find((m) => m.topic === up)?.payloadBase64, BINARY.toString('base64'));
    const raw = (await https(emu, 'GET', `${apiOf(plug)}/raw`)).body as unknown as {
      topic: string;
      payloadBase64: string;
    }[];
    assert.deepEqual(
      raw.map((m) => [m.topic, m.payloadBase64]),
      [[up, BINARY.toString('base64')]],
    );
  });

  it('takes a test script for up_raw_reply; undefined sends nothing', async () => {
    const standIn = emu.raw.upRawReply;
    emu.raw.upRawReply = (_device, payload) => Buffer.concat([Buffer.from([0x02]), payload]);
    try {
      const reply = nextMessage(client, `${up}_reply`);
      await client.publishAsync(up, Buffer.from([0x01, 0xff]), { qos: 0 });
      assert.deepEqual([...(await reply).payload], [0x02, 0x01, 0xff]);
      // No reply to 0x03; the device's next message is handled after it: its reply proves 0x03 had none.
      emu.raw.upRawReply = (_device, payload) => (payload[0] === 0x03 ? undefined : 'after');
      const seen = collect(client, `${up}_reply`);
      const after = nextMessage(client, `${up}_reply`);
      await client.publishAsync(up, Buffer.from([0x03]), { qos: 0 });
      await client.publishAsync(up, Buffer.from([0x04]), { qos: 0 });
      assert.equal((await after).payload.toString(), 'after');
      assert.deepEqual(
        seen.map((m) => m.payload.toString()),
        ['after'],
      );
    } finally {
      emu.raw.upRawReply = standIn;
    }
  });

  it('sends bytes down exactly, at QoS 0; without timeoutMs it does not wait', async () => {
    await client.subscribeAsync(down, { qos: 1 });
    const got = nextMessage(client, down);
    const answer = await https(emu, 'POST', `${apiOf(plug)}/raw`, { payloadBase64: BINARY.toString('base64') });
    assert.deepEqual(answer.body, { code: 'SUCCESS', online: true });
    const message = await got;
    assert.deepEqual([...message.payload], [...BINARY]);
    assert.equal(message.qos, 0);
    const text = nextMessage(client, down);
    await https(emu, 'POST', `${apiOf(plug)}/raw`, { payload: 'AT+ON' });
    assert.equal((await text).payload.toString(), 'AT+ON');
  });

  it("reads back the device's answer on down_raw_reply or up_raw, whichever comes first", async () => {
    const answerOn = (topic: string, bytes: Buffer) => {
      const onDown = (t: string) => {
        if (t !== down) return;
        client.off('message', onDown);
        void client.publishAsync(topic, bytes, { qos: 0 });
      };
      client.on('message', onDown);
    };
    answerOn(`${down}_reply`, Buffer.from([0x03, 0x00, 0xff]));
    const viaReply = await https(emu, 'POST', `${apiOf(plug)}/raw`, { payloadBase64: 'AQI=', timeoutMs: 3000 });
    assert.deepEqual(viaReply.body, {
      code: 'SUCCESS',
      replyTopic: `${down}_reply`,
      replyBase64: Buffer.from([0x03, 0x00, 0xff]).toString('base64'),
    });
    answerOn(up, Buffer.from([0x05]));
    const viaUp = await https(emu, 'POST', `${apiOf(plug)}/raw`, { payloadBase64: 'AQI=', timeoutMs: 3000 });
    assert.deepEqual([viaUp.body.code, viaUp.body.replyTopic, viaUp.body.replyBase64], ['SUCCESS', up, 'BQ==']);
    const silent = await https(emu, 'POST', `${apiOf(plug)}/raw`, { payloadBase64: 'AQI=', timeoutMs: 200 });
    assert.deepEqual(silent.body, { code: 'TIMEOUT' });
    const offline = await https(emu, 'POST', `${apiOf(idle)}/raw`, { payloadBase64: 'AQI=', timeoutMs: 1000 });
    assert.deepEqual(offline.body, { code: 'OFFLINE' });
    const raw = (await https(emu, 'GET', `${apiOf(plug)}/raw`)).body as unknown as { topic: string }[];
    assert.ok(raw.some((m) => m.topic === `${down}_reply`));
  });

  it('refuses a call without bytes, and reaches a _ss=1 device that never subscribed', async () => {
    assert.equal((await https(emu, 'POST', `${apiOf(plug)}/raw`, {})).status, 400);
    assert.equal((await https(emu, 'POST', `${apiOf(plug)}/raw`, { payload: 'x', timeoutMs: 'soon' })).status, 400);
    assert.equal((await https(emu, 'PUT', `${apiOf(plug)}/raw`, {})).status, 405);
    const ss = await connectSigned(emu, idle, ',_ss=1');
    try {
      const got = nextMessage(ss, `${sysOf(idle)}/thing/model/down_raw`);
      await https(emu, 'POST', `${apiOf(idle)}/raw`, { payloadBase64: BINARY.toString('base64') });
      assert.deepEqual([...(await got).payload], [...BINARY]);
    } finally {
      await ss.endAsync(true);
    }
  });
});
