// Bad input fuzzing: thousands of generated messages into every node with an input (random types
// for payload, topic, qos, action, device, event, time, code, aliyun, version, module, step, desc; huge, empty, nested,
// non-UTF-8, circular, prototype-pollution keys). No crash, every message done exactly once, and
// every error carries a localized text.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { NodeMessage } from 'node-red';
import type { Emulator } from '../../emulator/index';
import { eventually } from '../helpers/emulator';
import { completions, connected, credentialsFor, deviceConfig, helper, NODES, nodeRedSuite } from '../helpers/flows';

const device = { productKey: 'pkFuzz', deviceName: 'fuzz-dev', deviceSecret: 'fuzz-secret' };
const PER_NODE = 1500;
const account = { accessKeyId: 'LTAI5tFuzzKey', accessKeySecret: 'fuzz-access-key-secret' };

const circular: Record<string, unknown> = { a: 1 };
circular.self = circular;
let deep: Record<string, unknown> = {};
for (let i = 0; i < 500; i++) deep = { deep };

const oddValues = [
  undefined,
  null,
  '',
  ' ',
  '\u0000',
  'x'.repeat(300 * 1024),
  Buffer.alloc(300 * 1024, 1),
  Buffer.from([0xff, 0xfe, 0xfd, 0x00]),
  Buffer.alloc(0),
  circular,
  deep,
  JSON.parse('{"__proto__":{"polluted":true}}') as unknown,
  { constructor: { prototype: { polluted: true } } },
  Number.NaN,
  Infinity,
  -1,
  2,
  1.5,
  '1',
  '0',
  [],
  [1, 2, 3],
  () => 1,
  Symbol('s'),
  BigInt(1),
  new Date(0),
  {},
];

const anyValue = fc.oneof(
  fc.constantFrom(...oddValues),
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  fc.object({ maxDepth: 3, maxKeys: 5 }),
  fc.array(fc.anything({ maxDepth: 2 }), { maxLength: 5 }),
  fc.constantFrom('subscribe', 'unsubscribe', 'connect', 'status', 'user/x', '#', '+/+', '/pkFuzz/fuzz-dev/user/a'),
  // The device services' actions, so that their valid paths meet odd payloads too.
  fc.constantFrom('get', 'update', 'delete', 'clear-desired', 'report', 'progress', '1.0.1', 'mcu'),
  // The OpenAPI's actions and parameters, so that the cloud-api node's encoding meets odd values.
  fc.constantFrom('Pub', 'QueryDeviceDetail', 'SetDeviceProperty', 'RRpc', 'NoSuchAction'),
  fc.record({
    ProductKey: fc.constantFrom('pkFuzz', ''),
    DeviceName: fc.string(),
    Items: fc.anything({ maxDepth: 2 }),
  }),
);

const message = fc.record(
  {
    payload: anyValue,
    topic: anyValue,
    qos: anyValue,
    action: anyValue,
    device: anyValue,
    event: anyValue,
    time: anyValue,
    code: anyValue,
    aliyun: anyValue,
    message: anyValue,
    version: anyValue,
    module: anyValue,
    step: anyValue,
    desc: anyValue,
  },
  { requiredKeys: [] },
);

// Inputs whose actions would take the device offline are left out of the connect node's fuzz.
const TARGETS = [
  'pub',
  'sub',
  'prop',
  'event',
  'reply',
  'auth',
  'time',
  'conn',
  'shadow',
  'ota',
  'config',
  'tags',
  'api',
];

/** Each field's kind (a short text, or its [[Class]] and first keys), for a readable failure. */
function fieldKinds(sample: unknown): Record<string, string> {
  return Object.fromEntries(
    Object.entries(sample as Record<string, unknown>).map(([k, v]) => [
      k,
      typeof v === 'string'
        ? v.slice(0, 40)
        : `${Object.prototype.toString.call(v)} ${v && typeof v === 'object' ? Object.keys(v).slice(0, 5).join(',') : ''}`,
    ]),
  );
}

describe('bad input fuzzing', () => {
  const emulator = nodeRedSuite({ devices: [device], rateLimit: 0, accounts: [account] });

  it(`${PER_NODE} generated messages into each of ${TARGETS.length} nodes: done once each, no crash`, async () => {
    const emu: Emulator = emulator();
    const flow = [
      deviceConfig(emu, device, { rateLimit: '0', queueSize: '100000' }),
      { id: 'pub', type: 'aliyun-iot-publish', device: 'dev' },
      { id: 'sub', type: 'aliyun-iot-subscribe', device: 'dev', topic: 'user/get' },
      { id: 'prop', type: 'aliyun-iot-property', device: 'dev', timeout: '1' },
      { id: 'event', type: 'aliyun-iot-event', device: 'dev', timeout: '1' },
      { id: 'reply', type: 'aliyun-iot-reply', device: 'dev' },
      { id: 'auth', type: 'aliyun-iot-auth', device: 'dev', mode: 'sign' },
      { id: 'time', type: 'aliyun-iot-time', device: 'dev', timeout: '1' },
      { id: 'conn', type: 'aliyun-iot-connect', device: 'dev' },
      { id: 'shadow', type: 'aliyun-iot-shadow', device: 'dev' },
      { id: 'ota', type: 'aliyun-iot-ota', device: 'dev', version: '1.0.0', download: 'off' },
      { id: 'config', type: 'aliyun-iot-config', device: 'dev' },
      { id: 'tags', type: 'aliyun-iot-tags', device: 'dev' },
      {
        id: 'acct',
        type: 'aliyun-iot-account',
        apiUrl: `https://${emu.host}:${emu.ports.https}/`,
        ca: emu.ca,
      },
      { id: 'api', type: 'aliyun-iot-cloud-api', account: 'acct' },
    ];
    await helper.load(NODES, flow, { ...credentialsFor(device), acct: account });
    await connected(emu, device);
    const crashes: unknown[] = [];
    const onCrash = (err: unknown) => crashes.push(err);
    process.on('uncaughtException', onCrash);
    process.on('unhandledRejection', onCrash);
    try {
      const samples = fc.sample(message, { numRuns: PER_NODE, seed: 20261130 });
      for (const id of TARGETS) {
        const list = completions(id);
        const node = helper.getNode(id)!;
        samples.forEach((sample, i) => {
          const msg = { ...(sample as Record<string, unknown>), _fuzz: i } as NodeMessage & Record<string, unknown>;
          // The connect node's disconnect would only prove that disconnecting works.
          if (id === 'conn' && (msg.action === 'disconnect' || msg.action === 'reconnect')) msg.action = 'status';
          node.receive(msg);
        });
        // On a time out: which messages never completed, and what their fields were.
        await eventually(
          () => list.length >= PER_NODE,
          60_000,
          () => {
            const seen = new Set(list.map((c) => (c.msg as { _fuzz?: number })._fuzz));
            const missing = samples.flatMap((m, i) => (seen.has(i) ? [] : [[i, fieldKinds(m)]])).slice(0, 3);
            return `${id}: every message done; ${list.length} done, first missing ${JSON.stringify(missing)}`;
          },
        );
        await new Promise((r) => setTimeout(r, 100));
        const marks = list.map((c) => (c.msg as { _fuzz?: number })._fuzz);
        assert.equal(new Set(marks).size, PER_NODE, `${id}: each message once`);
        assert.equal(list.length, PER_NODE, `${id}: no message done twice`);
        for (const { err } of list) {
          if (!err) continue;
          const coded = err as Error & { code?: string | number };
          assert.ok(coded.code !== undefined, `${id}: error without a code: ${err.message}`);
          assert.ok(
            err.message && err.message !== String(coded.code) && !err.message.includes(':errors.'),
            `${id}: ${err.message}`,
          );
        }
      }
    } finally {
      process.off('uncaughtException', onCrash);
      process.off('unhandledRejection', onCrash);
    }
    assert.deepEqual(crashes, []);
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
    assert.equal(emu.registry.device(device.productKey, device.deviceName)!.online, true, 'still connected');
  });
});
