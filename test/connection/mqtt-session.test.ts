// The options a session hands mqtt.js. mqtt.js keeps that object for the client's life and writes
// into it; one that gains keys turns into a dictionary of about 1.6 KB per device. These tests log
// a real mqtt.js client in to the emulator over every transport, use it, and check mqtt.js added
// no key the package did not list: a newer mqtt.js that writes a new one fails here by name.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect } from 'mqtt';
import type { Emulator } from '../../emulator/index';
import { clientOptions, MqttSession, type SessionLogin } from '../../nodes/lib/connection/mqtt-session';
import { signMqtt } from '../../nodes/lib/index';
import { securemodeOf, start, TRANSPORTS, urlOf } from '../helpers/emulator';

const device = { productKey: 'pkShape', deviceName: 'shape-dev', deviceSecret: 'shape-secret' };

function loginFor(emu: Emulator, secure: boolean): SessionLogin {
  const creds = signMqtt({ ...device, securemode: secure ? 2 : 3, timestamp: Date.now() });
  return {
    ...creds,
    keepalive: 60,
    clean: true,
    connectTimeout: 10_000,
    ca: secure ? [emu.ca] : undefined,
    rejectUnauthorized: secure ? true : undefined,
    servername: undefined,
  };
}

describe('mqtt.js client options', () => {
  let emu: Emulator;
  before(async () => {
    emu = await start({ devices: [device] });
  });
  after(() => emu.close());

  for (const transport of TRANSPORTS) {
    it(`gain no key over a login, a subscription and a QoS 1 publish (${transport})`, async () => {
      const url = urlOf(emu, transport);
      const login = loginFor(emu, securemodeOf(transport) === 2);
      const listed = new Set(Object.keys(clientOptions(url, login)));
      let session: MqttSession | undefined;
      const connected = new Promise<void>((resolve, reject) => {
        session = new MqttSession(connect, url, login, {
          connect: resolve,
          error: reject,
          close: () => reject(new Error('closed before CONNACK')),
        });
      });
      await connected;
      const client = session!.client;
      await client.subscribeAsync(`/${device.productKey}/${device.deviceName}/user/get`, { qos: 1 });
      await client.publishAsync(`/${device.productKey}/${device.deviceName}/user/update`, 'x', { qos: 1 });
      const added = Object.keys(client.options).filter((key) => !listed.has(key));
      await session!.end(5000);
      assert.deepEqual(added, [], `mqtt.js wrote keys clientOptions() does not list: ${added.join(', ')}`);
    });
  }
});

describe('clientOptions', () => {
  const login: SessionLogin = {
    clientId: 'c',
    username: 'u',
    password: 'p',
    keepalive: 60,
    clean: true,
    connectTimeout: 1000,
  };

  it('takes an IPv6 host out of its brackets', () => {
    const options = clientOptions('mqtt://[::1]:1883', login);
    assert.deepEqual([options.protocol, options.host, options.port], ['mqtt', '::1', 1883]);
  });

  it('gives WebSockets their path and the others none (mqtt.js would delete it)', () => {
    assert.equal(clientOptions('wss://iot.example:443/mqtt', login).path, '/mqtt');
    assert.equal('path' in clientOptions('mqtts://iot.example:8883', login), false);
  });

  it('leaves a default port to mqtt.js', () => {
    // WHATWG URLs drop a scheme's default port; mqtt.js picks 443 for wss itself.
    assert.equal(clientOptions('wss://iot.example:443/mqtt', login).port, undefined);
  });
});
