// What the platform refuses and what a careless setting would expose: another device's topics,
// a server certificate from another CA, verification turned off, hand-edited config, and Node-RED
// stopping with messages in flight.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCertificateAuthority, type Emulator } from '../../emulator/index';
import { eventually, sleep } from '../helpers/emulator';
import {
  logged,
  collect,
  completions,
  connected,
  credentialsFor,
  deviceConfig,
  helper,
  inject,
  NODES,
  nodeRedSuite,
} from '../helpers/flows';
import { FaultProxy } from '../helpers/proxy';
import { leakedSecrets } from '../helpers/secrets';
import { unloadFlows } from '../helpers/red-internals';

const device = { productKey: 'pkSec', deviceName: 'sec-dev', deviceSecret: 'sec-device-secret' };
const statuses = (id: string) => (helper.getNode(id) as unknown as { status: { args: unknown[][] } }).status.args;

describe('security and robustness', () => {
  const emulator = nodeRedSuite({ devices: [device], rateLimit: 0 });
  const record = () => emulator().registry.device(device.productKey, device.deviceName)!;

  it("another device's topic: the platform refuses the subscription and the node says so; the rest works", async () => {
    const emu = emulator();
    await helper.load(
      NODES,
      [
        deviceConfig(emu, device),
        { id: 'foreign', type: 'aliyun-iot-subscribe', device: 'dev', topic: '/pkOther/other-dev/user/get' },
        { id: 'own', type: 'aliyun-iot-subscribe', device: 'dev', topic: 'user/get', wires: [['got']] },
        { id: 'got', type: 'helper' },
      ],
      credentialsFor(device),
    );
    await connected(emu, device);
    await eventually(() => logged('foreign', 'warn').length > 0, 5000, 'refusal reported');
    assert.match(logged('foreign', 'warn')[0]!, /\/pkOther\/other-dev\/user\/get refused \(128\)/);
    assert.match(JSON.stringify(statuses('foreign').at(-1)), /refused/);
    assert.equal(emu.registry.device(device.productKey, device.deviceName)!.counters.drops['subscribe-refused'], 1);
    const got = collect('got');
    await emu.platform.publishDown('/pkSec/sec-dev/user/get', 'still here', 0);
    await eventually(() => got.length === 1, 3000, 'own subscription works');
  });

  it('a server certificate from another CA is refused by default with a clear TLS error', async () => {
    const emu = emulator();
    const otherCa = createCertificateAuthority();
    const connectsBefore = record().counters.connects;
    await helper.load(
      NODES,
      [
        deviceConfig(emu, device, { transport: 'tls', ca: otherCa.cert }),
        { id: 'conn', type: 'aliyun-iot-connect', device: 'dev', wires: [['states']] },
        { id: 'states', type: 'helper' },
      ],
      credentialsFor(device),
    );
    const states = collect('states');
    await eventually(() => states.some((m) => m.topic === 'disconnected'), 8000, 'refused');
    const reason = (states.find((m) => m.topic === 'disconnected')!.payload as { reason: string }).reason;
    assert.match(reason, /certificate/i);
    assert.equal(record().counters.connects, connectsBefore, 'never logged in');
  });

  it('verification off is explicit: it connects despite the wrong CA and warns on each connect', async () => {
    const emu = emulator();
    await helper.load(
      NODES,
      [
        deviceConfig(emu, device, {
          transport: 'tls',
          ca: createCertificateAuthority().cert,
          rejectUnauthorized: false,
        }),
        { id: 'conn', type: 'aliyun-iot-connect', device: 'dev' },
      ],
      credentialsFor(device),
    );
    await connected(emu, device);
    const warned = () => logged('dev', 'warn').filter((w) => /verification is OFF/.test(w)).length;
    await eventually(() => warned() === 1, 10_000, 'warned');
    // The platform drops the session: the next login warns again.
    const logins = record().counters.connects;
    emu.broker.disconnect(record(), 'test');
    await eventually(() => record().counters.connects > logins, 15_000, 'logged in again');
    await eventually(() => warned() >= 2, 10_000, 'warned again');
  });

  it('hand-edited config (wrong types, missing fields) is refused clearly; an older flow without the new fields runs', async () => {
    const emu = emulator();
    const broken = [
      { keepalive: {} },
      { port: [1883] },
      { deviceName: null },
      { transport: 'TLS' },
      { rateLimit: '-5' },
      { authMode: 7 },
      { queueSize: 'lots' },
      { endpoint: 'instance', instanceId: { id: 1 } },
    ];
    for (const [i, extra] of broken.entries()) {
      await helper.load(
        NODES,
        [
          { ...deviceConfig(emu, device), ...extra },
          { id: 'pub', type: 'aliyun-iot-publish', device: 'dev', topic: 'user/x' },
        ],
        credentialsFor(device),
      );
      const err = await inject('pub', { payload: 'x' });
      assert.equal(err?.code, 'CONFIG_INVALID', `case ${i}: ${JSON.stringify(extra)}`);
      assert.ok(err.message.length > 'Device settings are invalid: '.length, err.message);
      await unloadFlows();
    }
    // A config node as saved before authentication modes, pacing and the auth host existed: none of those keys.
    const old = deviceConfig(emu, device);
    assert.ok(!('authMode' in old) && !('rateLimit' in old) && !('authHost' in old));
    await helper.load(
      NODES,
      [old, { id: 'pub', type: 'aliyun-iot-publish', device: 'dev', topic: 'user/x' }],
      credentialsFor(device),
    );
    assert.equal(await inject('pub', { payload: 'old flow' }), undefined);
  });

  it('Node-RED stopping with QoS 1 messages in flight closes within its 15 s budget; each message is settled', async () => {
    const emu: Emulator = emulator();
    const proxy = await FaultProxy.start({ host: emu.host, port: emu.ports.mqtt });
    try {
      await helper.load(
        NODES,
        [
          deviceConfig(emu, device, { host: '127.0.0.1', port: String(proxy.port) }),
          { id: 'pub', type: 'aliyun-iot-publish', device: 'dev', topic: 'user/x', qos: '1' },
        ],
        credentialsFor(device),
      );
      await connected(emu, device);
      const list = completions('pub');
      proxy.pause();
      for (let i = 0; i < 20; i++) helper.getNode('pub')!.receive({ payload: `p${i}` });
      await sleep(100);
      assert.deepEqual(leakedSecrets(emu), []);
      const started = Date.now();
      await unloadFlows();
      const took = Date.now() - started;
      assert.ok(took < 15_000, `closed in ${took} ms`);
      // The connection itself ends after the pool's handover grace, giving PUBACKs 2 s first.
      await eventually(() => list.length === 20, 10_000, 'all settled');
      assert.ok(list.every((c) => (c.err as { code?: string } | undefined)?.code === 'CONNECTION_CLOSED'));
    } finally {
      await proxy.close();
    }
  });
});
