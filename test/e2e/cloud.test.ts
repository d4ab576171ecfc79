// End to end, the cloud side (issue 18): two real Node-RED processes with the packed tarball installed
// share one AMQP consumer group while real MQTT devices post to the emulator. Each message goes to one
// of them; when one is killed, the whole stream moves to the survivor, and what the killed one had not
// settled is pushed again there. Then a cloud-api flow sets a property that a device flow receives,
// and no AccessKey or device secret is exported, logged or stored unencrypted.
// What each instance received is read from its log: a function node warns every message it gets.
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { Emulator } from '../../emulator/index';
import { DEMO_DEVICE, DEMO_PRODUCT, DEMO_TSL } from '../../emulator/cli-args';
import * as nr from '../../scripts/node-red-process';
import { connectSigned, eventually, start } from '../helpers/emulator';
import { copyInstallation, installPackedTarball, NODE_RED_UNDER_TEST, startNodeRedUnderTest } from '../helpers/tarball';

const ACCOUNT = { accessKeyId: 'LTAI5tE2eCloudKey', accessKeySecret: 'e2e-cloud-access-key-secret' };
const GROUP = 'CID_E2E_SHARED';
/** The product whose data the group subscribes to: the demo device's traffic stays out of it. */
const STREAM_PK = 'pkE2eStream';
/** 20 in `npm test`; E2E_CLOUD_DEVICES=1000 is the scale run (deadlines grow with it). */
const DEVICE_COUNT = Number(process.env.E2E_CLOUD_DEVICES) || 20;
const SCALE = Math.max(1, Math.min(10, DEVICE_COUNT / 100));
const METERS = Array.from({ length: DEVICE_COUNT }, (_, i) => ({
  productKey: STREAM_PK,
  deviceName: `meter-${i}`,
  deviceSecret: `meter-${i}-device-secret`,
}));
const INJECTED = 120;

type Instance = 'a' | 'b';

/** One message as an instance's tap function logged it. */
interface Seen {
  id: string;
  topic: string;
  mark: string | null;
}

function tap(instance: Instance, holdMarked: boolean): string {
  // `node.done()` in the code: Node-RED leaves the completion to the function, so a held message stays
  // unsettled at the platform (the amqp-in node settles a delivery when the flow has finished with it).
  return [
    'const p = msg.payload && typeof msg.payload === "object" ? msg.payload : {};',
    `node.warn("e2e-seen-${instance} " + JSON.stringify({ id: msg.messageId, topic: msg.topic, mark: p.mark || null }));`,
    holdMarked ? 'if (p.hold) return null;' : '',
    'node.done();',
    'return null;',
  ].join('\n');
}

function functionNode(id: string, z: string, name: string, func: string, wires: string[][] = [[]]) {
  return {
    id,
    type: 'function',
    z,
    name,
    func,
    outputs: 1,
    timeout: 0,
    noerr: 0,
    initialize: '',
    finalize: '',
    libs: [],
    wires,
  };
}

function accountNode(emu: Emulator) {
  return {
    id: 'e2e-account',
    type: 'aliyun-iot-account',
    name: 'emulator account',
    regionId: 'cn-shanghai',
    iotInstanceId: '',
    accountId: '',
    apiUrl: `https://${emu.host}:${emu.ports.https}/`,
    amqpHost: emu.host,
    amqpPort: String(emu.ports.amqp),
    ca: emu.ca,
    rejectUnauthorized: true,
    credentials: { ...ACCOUNT },
  };
}

/** The shared-group flow of one instance; its clientId left blank: hostname-nodeId, unique per node. */
function streamFlow(emu: Emulator, instance: Instance, holdMarked = false) {
  const z = `e2e-tab-${instance}`;
  return [
    { id: z, type: 'tab', label: `shared group (${instance})`, disabled: false, info: '' },
    accountNode(emu),
    {
      id: `e2e-amqp-${instance}`,
      type: 'aliyun-iot-amqp-in',
      z,
      name: '',
      account: 'e2e-account',
      consumerGroupId: GROUP,
      clientId: '',
      connections: '1',
      creditWindow: '100',
      wires: [[`e2e-tap-${instance}`], []],
    },
    functionNode(`e2e-tap-${instance}`, z, `tap ${instance}`, tap(instance, holdMarked)),
  ];
}

describe(`end to end, the cloud side: two Node-RED processes from the tarball (${NODE_RED_UNDER_TEST} Node-RED)`, () => {
  let emu: Emulator;
  const red: Partial<Record<Instance, nr.NodeRedProcess>> = {};
  const userDirs = {} as Record<Instance, string>;
  let work: string | undefined;
  const meters: MqttClient[] = [];
  const demo = () => emu.registry.device(DEMO_DEVICE.productKey, DEMO_DEVICE.deviceName)!;

  const seen = (instance: Instance): Seen[] =>
    [...(red[instance]?.log() ?? '').matchAll(new RegExp(`e2e-seen-${instance} (\\{.*\\})$`, 'gm'))].map(
      (m) => JSON.parse(m[1]!) as Seen,
    );
  const marks = (instance: Instance, prefix: string) =>
    seen(instance)
      .map((s) => s.mark)
      .filter((m): m is string => m !== null && m.startsWith(prefix));
  const counters = () => {
    const c = emu.amqp.counters(GROUP);
    // Each delivery ends accepted, rejected or put back; the rest is still with a client.
    return { ...c, unsettled: c.delivered - c.accepted - c.rejected - c.redelivered };
  };
  const shares = () =>
    `a ${seen('a').length}, b ${seen('b').length}, ${JSON.stringify(counters())}, connections ${JSON.stringify(emu.amqp.connections(GROUP))}`;

  /** The end of both logs: what a timeout shows. */
  const tails = () =>
    (['a', 'b'] as const).map((i) => `--- Node-RED ${i}:\n${(red[i]?.log() ?? '').slice(-4000)}`).join('\n');

  /** Every meter posts `count` custom-topic messages marked `<phase>-<meter>-<n>`, QoS 1. */
  async function post(phase: string, count: number, extra: Record<string, unknown> = {}): Promise<string[]> {
    const sent: string[] = [];
    await Promise.all(
      meters.map(async (client, i) => {
        const { productKey, deviceName } = METERS[i]!;
        for (let n = 0; n < count; n++) {
          const mark = `${phase}-${deviceName}-${n}`;
          sent.push(mark);
          await client.publishAsync(`/${productKey}/${deviceName}/user/update`, JSON.stringify({ mark, ...extra }), {
            qos: 1,
          });
        }
      }),
    );
    return sent.sort();
  }

  before(async () => {
    const installation = installPackedTarball('aliyun-iot-e2e-cloud-');
    const { userDir } = installation;
    work = installation.work;
    userDirs.a = userDir;
    userDirs.b = copyInstallation(userDir, join(work, 'user-b'));
    emu = await start({
      devices: [DEMO_DEVICE, ...METERS],
      products: [{ ...DEMO_PRODUCT, tsl: DEMO_TSL }],
      accounts: [ACCOUNT],
      consumerGroups: [{ id: GROUP, productKeys: [STREAM_PK] }],
      rateLimit: 0,
    });
    const ports = { a: await nr.freePort(), b: await nr.freePort() };
    for (const instance of ['a', 'b'] as const) {
      nr.writeSettings(userDirs[instance], { port: ports[instance], credentialSecret: `e2e-cloud-secret-${instance}` });
      red[instance] = startNodeRedUnderTest(userDirs[instance], ports[instance]);
    }
    await Promise.all([red.a!.ready, red.b!.ready]);
  });

  after(async () => {
    await Promise.all(meters.map((c) => c.endAsync(true)));
    await Promise.all([red.a?.stop(), red.b?.stop()]);
    // Undefined when the setup failed before it started.
    await (emu as Emulator | undefined)?.close();
    // Two installations of the package: not left behind on every run.
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('each message goes to one of them: none lost, none twice, both get a share', async () => {
    await Promise.all([
      nr.deployFlows(red.a!.url, streamFlow(emu, 'a')),
      nr.deployFlows(red.b!.url, streamFlow(emu, 'b', true)),
    ]);
    await eventually(
      () => emu.amqp.connections(GROUP).length === 2,
      20_000 * SCALE,
      () => `both attached: ${shares()}\n${tails()}`,
    );
    const clientIds = emu.amqp.connections(GROUP).sort();
    assert.match(clientIds[0]!, /-e2e-amqp-a$/, 'the default clientId: hostname-nodeId');
    assert.match(clientIds[1]!, /-e2e-amqp-b$/);

    // Real devices: their online status and their posts flow; injected messages add volume.
    // In batches: a thousand at once would be a login storm of the test's own making.
    for (let i = 0; i < METERS.length; i += 50)
      meters.push(...(await Promise.all(METERS.slice(i, i + 50).map((meter) => connectSigned(emu, meter)))));
    const posted = await post('p1', 3);
    const injected: string[] = [];
    for (let i = 0; i < INJECTED; i++) {
      const mark = `p1-injected-${String(i).padStart(3, '0')}`;
      injected.push(mark);
      emu.amqp.publish({
        topic: `/${STREAM_PK}/injected/user/update`,
        payload: Buffer.from(JSON.stringify({ mark })),
        messageId: `e2e-injected-${i}`,
        generateTime: Date.now(),
        productKey: STREAM_PK,
        deviceName: 'injected',
      });
    }
    const expected = [...posted, ...injected].sort();
    await eventually(
      () =>
        marks('a', 'p1-').length + marks('b', 'p1-').length >= expected.length &&
        counters().queued === 0 &&
        counters().unsettled === 0,
      30_000 * SCALE,
      () => `all ${expected.length} marked messages received and settled: ${shares()}`,
    );

    const all = [...seen('a'), ...seen('b')];
    assert.deepEqual([...marks('a', 'p1-'), ...marks('b', 'p1-')].sort(), expected, 'every post, each once');
    const online = all.filter((s) => s.topic.startsWith(`/as/mqtt/status/${STREAM_PK}/`)).map((s) => s.topic);
    assert.deepEqual(
      [...new Set(online)].sort(),
      METERS.map((m) => `/as/mqtt/status/${STREAM_PK}/${m.deviceName}`).sort(),
      "every meter's status",
    );
    const ids = all.map((s) => s.id);
    assert.equal(new Set(ids).size, ids.length, 'no messageId at two instances or twice at one');
    const c = counters();
    assert.equal(c.accepted, ids.length, `the platform saw each settled once: ${JSON.stringify(c)}`);
    assert.equal(c.redelivered, 0);
    assert.equal(c.dropped, 0);
    const [a, b] = [seen('a').length, seen('b').length];
    assert.ok(a >= ids.length / 5 && b >= ids.length / 5, `both a share: a ${a}, b ${b}`);
  });

  it('one killed: the stream moves to the survivor, which gets what the killed one had not settled', async () => {
    const aBefore = seen('a').length;
    const before = counters();
    // Instance b holds what is marked `hold` (a busy flow): unsettled when it dies.
    const held = await post('p2', 2, { hold: true });
    await eventually(
      () => marks('a', 'p2-').length + marks('b', 'p2-').length === held.length && counters().queued === 0,
      20_000 * SCALE,
      () => `all ${held.length} delivered: ${shares()}`,
    );
    const withB = marks('b', 'p2-');
    assert.ok(withB.length > 0 && withB.length < held.length, `b holds a share: ${withB.length}`);
    await eventually(
      () => counters().unsettled === withB.length,
      10_000 * SCALE,
      () => `a settled its share, b none: ${shares()}`,
    );
    const idsWithB = seen('b')
      .filter((s) => s.mark?.startsWith('p2-'))
      .map((s) => s.id);

    red.b!.child.kill('SIGKILL');
    await red.b!.exited;
    // The TCP connection dies with the process: the platform puts its unsettled messages back at once.
    await eventually(
      () => emu.amqp.connections(GROUP).length === 1,
      10_000 * SCALE,
      () => `b gone: ${shares()}`,
    );
    assert.match(emu.amqp.connections(GROUP)[0]!, /-e2e-amqp-a$/);
    await eventually(
      () => marks('a', 'p2-').length === held.length,
      15_000 * SCALE,
      () => `the held ones at a too: ${shares()}`,
    );
    assert.deepEqual(marks('a', 'p2-').sort(), held, 'a has every p2 message, b held ones included');
    const redelivered = seen('a').filter((s) => s.mark?.startsWith('p2-') && idsWithB.includes(s.id));
    assert.equal(redelivered.length, idsWithB.length, 'the same messageIds, pushed again');
    assert.equal(counters().redelivered - before.redelivered, withB.length);

    // New messages: all at the survivor.
    const afterKill = await post('p3', 2);
    await eventually(
      () => marks('a', 'p3-').length === afterKill.length && counters().unsettled === 0 && counters().queued === 0,
      20_000 * SCALE,
      () => `the new ones at a: ${shares()}`,
    );
    assert.deepEqual(marks('a', 'p3-').sort(), afterKill);
    // Nothing at a twice: the held ones once each (b never settled them), the rest once.
    const fresh = seen('a').slice(aBefore);
    assert.equal(new Set(fresh.map((s) => s.id)).size, fresh.length, 'no duplicate at a');
    assert.equal(counters().accepted - before.accepted, held.length + afterKill.length);
    assert.equal(counters().dropped, 0);
  });

  it('a cloud-api flow sets a property; a device flow in the same Node-RED receives property/set', async () => {
    const z = 'e2e-tab-cloud';
    const flow = [
      ...streamFlow(emu, 'a'),
      { id: z, type: 'tab', label: 'cloud api and device', disabled: false, info: '' },
      {
        id: 'e2e-demo-device',
        type: 'aliyun-iot-device',
        name: 'emulator demo device',
        productKey: DEMO_DEVICE.productKey,
        deviceName: DEMO_DEVICE.deviceName,
        authMode: 'sign',
        endpoint: 'custom',
        regionId: 'cn-shanghai',
        host: emu.host,
        port: String(emu.ports.mqtt),
        transport: 'tcp',
        signmethod: 'hmacsha256',
        clientId: '',
        keepalive: '60',
        cleanSession: true,
        autoConnect: true,
        ca: '',
        rejectUnauthorized: true,
        credentials: { deviceSecret: DEMO_DEVICE.deviceSecret! },
      },
      {
        id: 'e2e-command',
        type: 'aliyun-iot-command',
        z,
        name: '',
        device: 'e2e-demo-device',
        propertySet: true,
        services: false,
        rrpc: false,
        autoReply: true,
        timeout: '60',
        rrpcTimeout: '8',
        wires: [['e2e-command-tap']],
      },
      functionNode(
        'e2e-command-tap',
        z,
        'command tap',
        'node.warn("e2e-command " + JSON.stringify({ topic: msg.topic, payload: msg.payload })); return null;',
      ),
      {
        id: 'e2e-set',
        type: 'inject',
        z,
        name: 'LightSwitch on',
        props: [{ p: 'payload' }],
        repeat: '',
        crontab: '',
        once: false,
        onceDelay: 0.1,
        topic: '',
        payload: JSON.stringify({
          ProductKey: DEMO_DEVICE.productKey,
          DeviceName: DEMO_DEVICE.deviceName,
          Items: { LightSwitch: 1 },
        }),
        payloadType: 'json',
        wires: [['e2e-api']],
      },
      {
        id: 'e2e-api',
        type: 'aliyun-iot-cloud-api',
        z,
        name: '',
        account: 'e2e-account',
        action: 'SetDeviceProperty',
        wires: [['e2e-api-tap']],
      },
      functionNode(
        'e2e-api-tap',
        z,
        'answer tap',
        'node.warn("e2e-answer " + JSON.stringify({ action: msg.action, payload: msg.payload })); return null;',
      ),
    ];
    await nr.deployFlows(red.a!.url, flow);
    const setTopic = `/sys/${DEMO_DEVICE.productKey}/${DEMO_DEVICE.deviceName}/thing/service/property/set`;
    await eventually(
      () => demo().online && demo().subscriptions.has(setTopic),
      15_000 * SCALE,
      () => `the device flow subscribed: online ${demo().online}, ${JSON.stringify(demo().counters)}\n${tails()}`,
    );
    // The inject node's button, as the editor presses it.
    const pressed = await nr.request('POST', `${red.a!.url}/inject/e2e-set`);
    assert.equal(pressed.status, 200);

    const log = () => red.a!.log();
    await eventually(
      () => /e2e-command \{.*\}$/m.test(log()),
      15_000 * SCALE,
      () => `property/set in the device flow:\n${log().slice(-3000)}`,
    );
    const command = JSON.parse(/e2e-command (\{.*\})$/m.exec(log())![1]!) as { topic: string; payload: unknown };
    assert.deepEqual(command, { topic: 'property/set', payload: { LightSwitch: 1 } });
    await eventually(() => /e2e-answer \{.*\}$/m.test(log()), 15_000, 'the OpenAPI answer');
    const answer = JSON.parse(/e2e-answer (\{.*\})$/m.exec(log())![1]!) as {
      action: string;
      payload: { RequestId?: string; Data?: { MessageId?: string } };
    };
    assert.equal(answer.action, 'SetDeviceProperty');
    assert.ok(answer.payload.RequestId && answer.payload.Data?.MessageId, JSON.stringify(answer));
    // autoReply answered the set with code 200.
    const replied = () => demo().uplink.find((m) => m.topic === `${setTopic}_reply`);
    await eventually(() => replied() !== undefined, 10_000, 'the property/set reply at the platform');
    assert.equal((JSON.parse(replied()!.payload) as { code?: unknown }).code, 200);
  });

  it('no AccessKey or device secret in GET /flows, either log, or flows_cred.json (encrypted)', async () => {
    const flows = (await nr.request('GET', `${red.a!.url}/flows`)).text;
    assert.ok(flows.includes('aliyun-iot-account') && flows.includes('aliyun-iot-device'));
    const secrets = [ACCOUNT.accessKeySecret, ...emu.accounts.secrets(), ...emu.registry.secrets()];
    assert.ok(secrets.includes(DEMO_DEVICE.deviceSecret!) && secrets.includes(METERS[0]!.deviceSecret));
    for (const instance of ['a', 'b'] as const) {
      const credsOnDisk = readFileSync(join(userDirs[instance], 'flows_cred.json'), 'utf8');
      assert.deepEqual(Object.keys(JSON.parse(credsOnDisk) as object), ['$'], `${instance}: only the encrypted blob`);
      const logged = red[instance]!.log();
      for (const secret of secrets) {
        assert.ok(!flows.includes(secret), 'a secret in GET /flows');
        assert.ok(!credsOnDisk.includes(secret), `a secret in ${instance}'s flows_cred.json`);
        assert.ok(!logged.includes(secret), `a secret in ${instance}'s Node-RED log`);
      }
    }
  });
});
