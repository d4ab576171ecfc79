// The session's client options and its write batching.
// - Options: mqtt.js keeps that object for the client's life and writes into it; one that gains
//   keys turns into a dictionary of about 1.6 KB per device. A real mqtt.js client logs in to the
//   emulator over every transport and must not have gained a key the package did not list: a newer
//   mqtt.js that writes a new one fails here by name.
// - Batching: a second publish within one turn of the event loop corks the socket, released after 16
//   held writes or at the end of the turn, on a stream that counts its corks; and a burst handed
//   over one setImmediate at a time, as Node-RED does, reaches the emulator whole and in order.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { connect, type MqttClient } from 'mqtt';
import type { Emulator } from '../../emulator/index';
import { clientOptions, MqttSession, type SessionLogin } from '../../nodes/lib/connection/mqtt-session';
import { signMqtt } from '../../nodes/lib/index';
import { eventually, securemodeOf, start, TRANSPORTS, urlOf } from '../helpers/emulator';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

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

/** A login for sessions that never reach a broker. */
const login: SessionLogin = {
  clientId: 'c',
  username: 'u',
  password: 'p',
  keepalive: 60,
  clean: true,
  connectTimeout: 1000,
};

describe('clientOptions', () => {
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

describe('write batching', () => {
  /** A session over a stream that counts corks and the flushes an uncork to zero makes. */
  function countingSession() {
    const stream = {
      corks: 0,
      flushes: 0,
      setNoDelay: () => undefined,
      cork() {
        this.corks++;
      },
      uncork() {
        if (this.corks === 0) return;
        if (--this.corks === 0) this.flushes++;
      },
    };
    const client = Object.assign(new EventEmitter(), { stream, publish: () => undefined }) as unknown as MqttClient;
    const session = new MqttSession(() => client, 'mqtt://h:1883', login, {});
    return { session, stream };
  }

  it('never holds the first write of a turn: one message each from many devices goes at once', async () => {
    await nextTurn();
    const devices = [countingSession(), countingSession(), countingSession()];
    for (const { session } of devices) session.publish('/t', 'x', 0);
    assert.deepEqual(
      devices.map(({ stream }) => stream.corks),
      [0, 0, 0],
    );
    await nextTurn();
    for (const { session } of devices) session.publish('/t', 'x', 0);
    assert.deepEqual(
      devices.map(({ stream }) => stream.corks),
      [0, 0, 0],
      'nor the first of the next turn',
    );
  });

  it('corks from the second write of a turn, lets 16 go at a time, and uncorks when the turn ends', async () => {
    await nextTurn();
    const { session, stream } = countingSession();
    session.publish('/t', 'x', 0);
    assert.equal(stream.corks, 0, 'first write: not held');
    session.publish('/t', 'x', 0);
    assert.equal(stream.corks, 1, 'second write: held');
    for (let i = 0; i < 15; i++) session.publish('/t', 'x', 0);
    assert.deepEqual([stream.corks, stream.flushes], [1, 0], '16 held, none sent yet');
    session.publish('/t', 'x', 0);
    assert.deepEqual([stream.corks, stream.flushes], [1, 1], 'the 17th sends the 16 before it');
    session.publish('/t', 'x', 0);
    await nextTurn();
    assert.deepEqual([stream.corks, stream.flushes], [0, 2], 'the rest goes when the turn ends');
    session.publish('/t', 'x', 0);
    assert.equal(stream.corks, 0, 'a new turn starts unheld');
  });

  it('delivers a burst handed over one setImmediate at a time whole and in order', async () => {
    // rateLimit 0: the platform's 30 messages/s per device would drop most of the burst.
    const emu = await start({ devices: [device], rateLimit: 0 });
    try {
      const received: string[] = [];
      emu.broker.aedes.on('publish', (packet, client) => {
        if (client && packet.topic.endsWith('/user/update')) received.push(packet.payload.toString());
      });
      const url = urlOf(emu, 'tcp');
      let session: MqttSession | undefined;
      await new Promise<void>((resolve, reject) => {
        session = new MqttSession(connect, url, loginFor(emu, false), { connect: resolve, error: reject });
      });
      const topic = `/${device.productKey}/${device.deviceName}/user/update`;
      const acked: number[] = [];
      const count = 200;
      // As Node-RED delivers a split node's messages: each in its own immediate, all in one turn.
      for (let i = 0; i < count; i++)
        setImmediate(() => {
          if (i % 2 === 0) session!.publish(topic, String(i), 0);
          else session!.publish(topic, String(i), 1, (err) => (err ? undefined : acked.push(i)));
        });
      await eventually(
        () => received.length === count && acked.length === count / 2,
        10_000,
        () => `the whole burst: ${received.length} received, ${acked.length} acknowledged`,
      );
      // Per QoS: aedes publishes a QoS 1 message after storing it, so the two kinds interleave.
      const sent = Array.from({ length: count }, (_, i) => i);
      for (const parity of [0, 1])
        assert.deepEqual(
          received.map(Number).filter((i) => i % 2 === parity),
          sent.filter((i) => i % 2 === parity),
        );
      await session!.end(5000);
    } finally {
      await emu.close();
    }
  });
});
