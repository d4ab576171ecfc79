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
import type { BrokerAddress } from '../../nodes/lib/endpoint';
import { signMqtt } from '../../nodes/lib/index';
import { brokerOf, eventually, securemodeOf, start, TRANSPORTS, type Transport } from '../helpers/emulator';

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

/** A session logged in to `emu` over `transport`. */
function loggedIn(emu: Emulator, transport: Transport): Promise<MqttSession> {
  return new Promise((resolve, reject) => {
    const session: MqttSession = new MqttSession(
      connect,
      brokerOf(emu, transport),
      loginFor(emu, securemodeOf(transport) === 2),
      { connect: () => resolve(session), error: reject, close: () => reject(new Error('closed before CONNACK')) },
    );
  });
}

/** A session on an emulator of its own, and what the emulator receives on the device's user/update. */
async function onEmulator(run: (session: MqttSession, received: string[], topic: string) => Promise<void>) {
  // rateLimit 0: the platform's 30 messages/s per device would drop most of a burst.
  const emu = await start({ devices: [device], rateLimit: 0 });
  try {
    const received: string[] = [];
    emu.broker.aedes.on('publish', (packet, client) => {
      if (client && packet.topic.endsWith('/user/update')) received.push(packet.payload.toString());
    });
    await run(await loggedIn(emu, 'tcp'), received, `/${device.productKey}/${device.deviceName}/user/update`);
  } finally {
    await emu.close();
  }
}

describe('mqtt.js client options', () => {
  let emu: Emulator;
  before(async () => {
    emu = await start({ devices: [device] });
  });
  after(() => emu.close());

  for (const transport of TRANSPORTS) {
    it(`gain no key over a login, a subscription and a QoS 1 publish (${transport})`, async () => {
      const login = loginFor(emu, securemodeOf(transport) === 2);
      const listed = new Set(Object.keys(clientOptions(brokerOf(emu, transport), login)));
      const session = await loggedIn(emu, transport);
      const client = session.client;
      await client.subscribeAsync(`/${device.productKey}/${device.deviceName}/user/get`, { qos: 1 });
      await client.publishAsync(`/${device.productKey}/${device.deviceName}/user/update`, 'x', { qos: 1 });
      const added = Object.keys(client.options).filter((key) => !listed.has(key));
      await session.end(5000);
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
  const at = (protocol: BrokerAddress['protocol'], host: string, port = 1883) =>
    clientOptions({ protocol, host, port }, login);

  it('takes an IPv6 host out of its brackets; a WebSocket URL keeps them', () => {
    for (const host of ['[::1]', '::1']) {
      const options = at('mqtt', host);
      assert.deepEqual(
        [options.protocol, options.host, options.port, options.hostname],
        ['mqtt', '::1', 1883, undefined],
      );
      // mqtt.js writes `${hostname}:${port}` into a WebSocket's URL.
      assert.deepEqual([at('wss', host, 443).host, at('wss', host, 443).hostname], ['::1', '[::1]']);
    }
  });

  it('hands sockets a host name in ASCII: punycode for an internationalized one, lower case', () => {
    assert.equal(at('mqtts', 'Bröker.Example.com').host, 'xn--brker-kua.example.com');
    assert.equal(at('mqtt', 'broker_1.lan').host, 'broker_1.lan');
    assert.equal(at('mqtt', '10.0.0.7').host, '10.0.0.7');
  });

  it('never throws for a host a URL parser would refuse; the socket reports it instead', () => {
    assert.equal(at('mqtt', 'a|b').host, 'a|b');
  });

  it('gives WebSockets their path and the others none (mqtt.js would delete it)', () => {
    assert.equal(
      clientOptions({ protocol: 'wss', host: 'iot.example', port: 443, path: '/mqtt' }, login).path,
      '/mqtt',
    );
    assert.equal(at('ws', 'iot.example').path, '/mqtt', 'the platform path when none is given');
    assert.equal('path' in at('mqtts', 'iot.example', 8883), false);
  });
});

describe('IPv6: a session over every transport reaches an emulator on ::1', () => {
  let emu: Emulator;
  before(async () => {
    emu = await start({ devices: [device], host: '::1' });
  });
  after(() => emu.close());

  for (const transport of TRANSPORTS) {
    it(transport, async () => {
      await (await loggedIn(emu, transport)).end(5000);
    });
  }
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
    const session = new MqttSession(() => client, { protocol: 'mqtt', host: 'h', port: 1883 }, login, {});
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
    await onEmulator(async (session, received, topic) => {
      const acked: number[] = [];
      const count = 200;
      // As Node-RED delivers a split node's messages: each in its own immediate, all in one turn.
      for (let i = 0; i < count; i++)
        setImmediate(() => {
          if (i % 2 === 0) session.publish(topic, String(i), 0);
          else session.publish(topic, String(i), 1, (err) => (err ? undefined : acked.push(i)));
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
      await session.end(5000);
    });
  });

  it('a dropped session sends the writes it held first: QoS 0 reported sent is not lost', async () => {
    await onEmulator(async (session, received, topic) => {
      await nextTurn();
      // A burst and a reconnect() in one turn: the burst is held for its batch when the drop comes.
      for (let i = 0; i < 20; i++) session.publish(topic, String(i), 0);
      session.drop();
      await eventually(
        () => received.length === 20,
        5000,
        () => `${received.length} of 20 at the emulator`,
      );
      assert.deepEqual(
        received,
        Array.from({ length: 20 }, (_, i) => String(i)),
      );
    });
  });
});
