// CONNECT rules of the emulator, driven with plain mqtt.js clients.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import vectors from '../fixtures/signing.json';
import type { Emulator } from '../../emulator/index';
import { signMqtt, SIGN_METHODS } from '../../nodes/lib/index';
import {
  connectDevice,
  connectRaw,
  eventually,
  nextMessage,
  refusalCode,
  start,
  TRANSPORTS,
} from '../helpers/emulator';

const device = { productKey: 'a1LoginPk', deviceName: 'login-dev', deviceSecret: 'login-secret' };

describe('emulator: CONNECT', () => {
  let emu: Emulator;
  before(async () => {
    const vectorDevices = vectors.mqtt.map((v) => ({
      productKey: v.params.productKey,
      deviceName: v.params.deviceName,
      deviceSecret: v.deviceSecret,
    }));
    // Vectors that share pk/dn also share the secret (asserted below).
    const unique = [...new Map(vectorDevices.map((d) => [`${d.productKey}&${d.deviceName}`, d])).values()];
    emu = await start({ devices: [device, ...unique] });
  });
  after(() => emu.close());

  for (const transport of TRANSPORTS) {
    for (const signmethod of SIGN_METHODS) {
      it(`accepts ${signmethod} over ${transport} and round-trips QoS 0 and 1`, async () => {
        const client = await connectDevice(emu, transport, { ...device, signmethod });
        const topic = `/${device.productKey}/${device.deviceName}/user/echo`;
        await client.subscribeAsync(topic, { qos: 1 });
        for (const qos of [0, 1] as const) {
          const got = nextMessage(client, topic);
          await client.publishAsync(topic, `${transport}-${signmethod}-${qos}`, { qos });
          const msg = await got;
          assert.equal(msg.payload.toString(), `${transport}-${signmethod}-${qos}`);
          assert.equal(msg.qos, qos);
        }
        await client.endAsync();
      });
    }
  }

  describe('golden vectors', () => {
    for (const v of vectors.mqtt) {
      it(`accepts "${v.name}" as published, refuses it with one character changed`, async () => {
        const clientId =
          v.mqttClientId ??
          `${v.params.clientId}|securemode=3,signmethod=${v.signmethod},timestamp=${v.params.timestamp}|`;
        const username = `${v.params.deviceName}&${v.params.productKey}`;
        assert.equal(emu.registry.device(v.params.productKey, v.params.deviceName)?.deviceSecret, v.deviceSecret);
        assert.equal(await refusalCode(connectRaw(emu, 'tcp', { clientId, username, password: v.password })), 0);
        const changed = v.password.slice(0, -1) + (v.password.at(-1) === '0' ? '1' : '0');
        assert.equal(await refusalCode(connectRaw(emu, 'tcp', { clientId, username, password: changed })), 4);
      });
    }
  });

  it('treats a missing signmethod as hmacmd5', async () => {
    const md5 = signMqtt({ ...device, signmethod: 'hmacmd5', securemode: 3 });
    const clientId = md5.clientId.replace(',signmethod=hmacmd5', '');
    assert.equal(clientId, `${device.productKey}.${device.deviceName}|securemode=3|`);
    assert.equal(await refusalCode(connectRaw(emu, 'tcp', { ...md5, clientId })), 0);
  });

  it('accepts the ext keys SDKs add (_v, lan, gw, ext, _ss)', async () => {
    const creds = signMqtt({ ...device, securemode: 3, ext: { _v: 'sdk-c-4.0', lan: 'C', gw: 0, ext: 1, _ss: 1 } });
    assert.equal(await refusalCode(connectRaw(emu, 'tcp', creds)), 0);
  });

  it('refuses a malformed ext with CONNACK 3', async () => {
    const good = signMqtt({ ...device, securemode: 3 });
    const base = `${device.productKey}.${device.deviceName}`;
    for (const clientId of [
      `${base}|securemode=3,signmethod=hmacsha256`,
      `${base}|securemode=3,,signmethod=hmacsha256|`,
      `${base}|securemode|`,
      `${base}|a=1|b|`,
      `${base}|securemode=3,securemode=3,signmethod=hmacsha256|`,
    ]) {
      assert.equal(await refusalCode(connectRaw(emu, 'tcp', { ...good, clientId })), 3, clientId);
    }
  });

  it('refuses a securemode that does not match the transport with CONNACK 3', async () => {
    const tls = signMqtt({ ...device, securemode: 2 });
    assert.equal(await refusalCode(connectRaw(emu, 'tcp', tls)), 3);
    const tcp = signMqtt({ ...device, securemode: 3 });
    assert.equal(await refusalCode(connectRaw(emu, 'tls', tcp)), 3);
    assert.equal(await refusalCode(connectRaw(emu, 'wss', tcp)), 3);
    assert.equal(await refusalCode(connectRaw(emu, 'ws', tls)), 3);
  });

  it('keepalive: 29 refused with CONNACK 3, 30 accepted, 1500 accepted and treated as 1200', async () => {
    assert.equal(await refusalCode(connectDevice(emu, 'tcp', device, { keepalive: 29 })), 3);
    assert.equal(await refusalCode(connectDevice(emu, 'tcp', device, { keepalive: 30 })), 0);
    const client = await connectDevice(emu, 'tcp', device, { keepalive: 1500 });
    assert.equal(emu.registry.device(device.productKey, device.deviceName)?.keepalive, 1200);
    await client.endAsync();
  });

  it('clientId: 64 characters accepted, 65 refused', async () => {
    assert.equal(await refusalCode(connectDevice(emu, 'tcp', { ...device, clientId: 'c'.repeat(64) })), 0);
    assert.equal(await refusalCode(connectDevice(emu, 'tcp', { ...device, clientId: 'c'.repeat(65) })), 2);
  });

  it('wrong secret and unknown device get CONNACK 4, counted by reason', async () => {
    const record = emu.registry.device(device.productKey, device.deviceName)!;
    const before = record.counters.refused['bad-signature'] ?? 0;
    assert.equal(await refusalCode(connectDevice(emu, 'tls', { ...device, deviceSecret: 'wrong' })), 4);
    assert.equal(record.counters.refused['bad-signature'], before + 1);
    assert.equal(await refusalCode(connectDevice(emu, 'tls', { ...device, deviceName: 'nobody' })), 4);
    assert.ok((emu.registry.unknownLogins['unknown-device'] ?? 0) >= 1);
    assert.equal(await refusalCode(connectDevice(emu, 'tls', device, { username: 'no-ampersand' })), 4);
  });

  it('a second login of the same device closes the older connection without a DISCONNECT packet', async () => {
    const record = emu.registry.device(device.productKey, device.deviceName)!;
    const kicks = record.counters.kicks;
    const first = await connectDevice(emu, 'tcp', { ...device, clientId: 'first' });
    let sawDisconnectPacket = false;
    first.on('disconnect', () => (sawDisconnectPacket = true));
    const closed = new Promise<void>((resolve) => first.once('close', () => resolve()));
    // Another clientId: the platform kicks per device, not per clientId.
    const second = await connectDevice(emu, 'tls', { ...device, clientId: 'second' });
    await closed;
    assert.equal(sawDisconnectPacket, false);
    assert.equal(record.counters.kicks, kicks + 1);
    await eventually(() => record.online, 2000, 'second session online');
    await second.endAsync();
    await eventually(() => !record.online, 2000, 'offline');
    assert.equal(record.lastDisconnectReason, 'client-disconnect');
  });
});
