// The platform's OpenAPI on the emulator's HTTPS port (RPC style, version 2018-01-20,
// PLATFORM.md §17.2), driven two ways: by a small signer written here from the rules (not from the
// emulator or the client), and by the platform's official RPC client `@alicloud/pop-core`,
// unchanged. Real devices (mqtt.js) answer RRPC and synchronous services (PLATFORM.md §16.2).
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import RPCClient from '@alicloud/pop-core';
import type { MqttClient } from 'mqtt';
import { startEmulator, type Emulator } from '../../emulator/index';
import { openApiLimits } from '../../emulator/openapi-limits';
import { connectSigned, eventually, httpsRaw, nextMessage, sleep, start } from '../helpers/emulator';
import { demoLamp } from './tsl-fixture';

const AK = { accessKeyId: 'LTAI5tOpenApiTestKey', accessKeySecret: 'openapi-test-secret-4b1d9e' };
const lamp = { productKey: 'pkOpenLamp', deviceName: 'lamp', deviceSecret: 'open-lamp-secret-77aa' };
const lampExt = { productKey: 'pkOpenLamp', deviceName: 'lampx', deviceSecret: 'open-lampx-secret-3c01' };
const plain = { productKey: 'pkOpenPlain', deviceName: 'dev', deviceSecret: 'open-plain-secret-9e2f' };
const idle = { productKey: 'pkOpenPlain', deviceName: 'idle', deviceSecret: 'open-idle-secret-1d4c' };
const unregistered = { productKey: 'pkOpenPlain', deviceName: 'unreg' };
const sysOf = (d: { productKey: string; deviceName: string }) => `/sys/${d.productKey}/${d.deviceName}`;
const b64 = (text: string) => Buffer.from(text).toString('base64');
const alink = (m: { payload: Buffer }) => JSON.parse(m.payload.toString()) as Record<string, unknown>;

// ---- the signer of this test, from the rules of PLATFORM.md §17.2 ----

/** RFC 3986: A-Z a-z 0-9 - _ . ~ kept, every other UTF-8 byte %XX (upper case). */
function enc(text: string): string {
  return [...Buffer.from(text, 'utf8')]
    .map((byte) => {
      const c = String.fromCharCode(byte);
      return /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

function sign(method: string, params: Record<string, string>, secret: string): string {
  const canonical = Object.keys(params)
    .filter((name) => name !== 'Signature')
    .sort()
    .map((name) => `${enc(name)}=${enc(params[name] ?? '')}`)
    .join('&');
  const toSign = `${method}&${enc('/')}&${enc(canonical)}`;
  return createHmac('sha1', `${secret}&`).update(toSign, 'utf8').digest('base64');
}

const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

interface CallOptions {
  method?: 'GET' | 'POST';
  secret?: string;
  /** Replaces or adds common parameters. */
  common?: Record<string, string>;
  omit?: string[];
  /** Sent instead of the right signature. */
  signature?: string;
  /** Signed for this method while sent with the other one. */
  signAs?: 'GET' | 'POST';
  /** Signed with these parameters changed, sent without the change. */
  signChanged?: Record<string, string>;
}

type Body = Record<string, unknown> & { Code?: string; RequestId?: string; Data?: Record<string, unknown> };
interface Answer {
  status: number;
  body: Body;
  text: string;
  sent: Record<string, string>;
}

/** Every answer and request of the test, for the secret scan at the end. */
const seen: { answers: string[]; signatures: string[] } = { answers: [], signatures: [] };

async function call(
  emu: Emulator,
  action: string,
  params: Record<string, string>,
  o: CallOptions = {},
): Promise<Answer> {
  const given: Record<string, string> = {
    Action: action,
    Format: 'JSON',
    Version: '2018-01-20',
    AccessKeyId: AK.accessKeyId,
    SignatureMethod: 'HMAC-SHA1',
    SignatureVersion: '1.0',
    SignatureNonce: randomUUID(),
    Timestamp: isoSeconds(Date.now()),
    RegionId: 'cn-shanghai',
    ...params,
    ...o.common,
  };
  const all = Object.fromEntries(Object.entries(given).filter(([name]) => !o.omit?.includes(name)));
  const method = o.method ?? 'POST';
  const signature =
    o.signature ?? sign(o.signAs ?? method, { ...all, ...o.signChanged }, o.secret ?? AK.accessKeySecret);
  seen.signatures.push(signature);
  const sent = { ...all, Signature: signature };
  const text = Object.entries(sent)
    .map(([k, v]) => `${enc(k)}=${enc(v)}`)
    .join('&');
  const raw =
    method === 'GET'
      ? await httpsRaw(emu, 'GET', `/?${text}`, { timeoutMs: 15_000 })
      : await httpsRaw(emu, 'POST', '/', { body: text, timeoutMs: 15_000 });
  seen.answers.push(raw.text);
  return { status: raw.status, body: JSON.parse(raw.text) as Body, text: raw.text, sent };
}

const UUID = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;

/** A refusal of the API gateway: HTTP status, `Code`, a fresh RequestId, `HostId` and `Message`. */
function assertPop(answer: Answer, status: number, code: string): void {
  assert.equal(answer.status, status, answer.text);
  assert.equal(answer.body.Code, code, answer.text);
  assert.match(String(answer.body.RequestId), UUID);
  assert.equal(typeof answer.body.HostId, 'string');
  assert.equal(typeof answer.body.Message, 'string');
}

/** An action's refusal: HTTP 200, `Success: false`, `Code`, `ErrorMessage`. */
function assertActionError(answer: Answer, code: string): void {
  assert.equal(answer.status, 200, answer.text);
  assert.equal(answer.body.Success, false, answer.text);
  assert.equal(answer.body.Code, code, answer.text);
  assert.match(String(answer.body.RequestId), UUID);
  assert.equal(typeof answer.body.ErrorMessage, 'string');
}

function assertOk(answer: Answer): Body {
  assert.equal(answer.status, 200, answer.text);
  assert.equal(answer.body.Success, true, answer.text);
  assert.match(String(answer.body.RequestId), UUID);
  return answer.body;
}

/** The official client, trusting the emulator's CA through httpx's `ca` request option. */
function officialClient(emu: Emulator, secret = AK.accessKeySecret): RPCClient {
  return new RPCClient({
    accessKeyId: AK.accessKeyId,
    accessKeySecret: secret,
    endpoint: `https://${emu.host}:${emu.ports.https}`,
    apiVersion: '2018-01-20',
    opts: { ca: emu.ca, timeout: 15_000 },
  });
}

type OfficialError = Error & { code?: string; data?: Body };
async function officialError(attempt: Promise<unknown>): Promise<OfficialError> {
  try {
    await attempt;
  } catch (err) {
    return err as OfficialError;
  }
  assert.fail('the official client did not throw');
}

/** The device answers what the responder returns on the RRPC requests it receives (system form). */
function rrpcResponder(client: MqttClient, device: { productKey: string; deviceName: string }) {
  const state: { answer: (payload: Buffer) => string | Buffer | undefined; requests: Buffer[] } = {
    answer: () => undefined,
    requests: [],
  };
  const prefix = `${sysOf(device)}/rrpc/request/`;
  client.on('message', (topic: string, payload: Buffer) => {
    if (!topic.startsWith(prefix)) return;
    state.requests.push(payload);
    const reply = state.answer(payload);
    const id = topic.slice(prefix.length);
    if (reply !== undefined) void client.publishAsync(`${sysOf(device)}/rrpc/response/${id}`, reply, { qos: 0 });
  });
  return state;
}

describe('emulator: the OpenAPI signature rules', () => {
  it("signs the RPC signature document's worked example (DescribeRegions, testid/testsecret)", () => {
    const params = {
      AccessKeyId: 'testid',
      Action: 'DescribeRegions',
      Format: 'XML',
      SignatureMethod: 'HMAC-SHA1',
      SignatureNonce: '3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf',
      SignatureVersion: '1.0',
      Timestamp: '2016-02-23T12:46:24Z',
      Version: '2014-05-26',
    };
    assert.equal(sign('GET', params, 'testsecret'), 'OLeaidS1JvxuMvnyHOwuJ+uX5qY=');
    assert.equal(enc('a b*~/é'), 'a%20b%2A~%2F%C3%A9');
  });
  it('takes whole-number limits and refuses others', () => {
    assert.equal(openApiLimits({ qps: { Pub: 2 } }).qps.Pub, 2);
    assert.equal(openApiLimits().qps.QueryDeviceDetail, 50);
    assert.throws(() => openApiLimits({ qps: { Nope: 1 } as never }), /unknown action Nope/);
    assert.throws(() => openApiLimits({ qps: { Pub: 1.5 } }), /whole number/);
    assert.throws(() => openApiLimits({ nonceWindowMs: 0 }), /whole number/);
  });
});

describe('emulator: the OpenAPI on an instance without an ID', () => {
  let emu: Emulator;
  let official: RPCClient;
  const logged: string[] = [];
  const open: MqttClient[] = [];
  let lampClient: MqttClient;
  let plainClient: MqttClient;
  let plainRrpc: ReturnType<typeof rrpcResponder>;
  let lampRrpc: ReturnType<typeof rrpcResponder>;

  before(async () => {
    emu = await start({
      rateLimit: 0,
      accounts: [AK],
      products: [{ productKey: lamp.productKey, tsl: demoLamp() }],
      devices: [lamp, lampExt, plain, idle, unregistered],
      log: (line) => logged.push(line),
    });
    official = officialClient(emu);
    lampClient = await connectSigned(emu, lamp);
    plainClient = await connectSigned(emu, plain);
    open.push(lampClient, plainClient);
    await lampClient.subscribeAsync([`${sysOf(lamp)}/rrpc/request/+`, `${sysOf(lamp)}/thing/service/#`], { qos: 0 });
    await lampClient.subscribeAsync(`/shadow/get/${lamp.productKey}/${lamp.deviceName}`, { qos: 1 });
    await plainClient.subscribeAsync([`${sysOf(plain)}/rrpc/request/+`, `${sysOf(plain)}/thing/service/#`], { qos: 0 });
    lampRrpc = rrpcResponder(lampClient, lamp);
    plainRrpc = rrpcResponder(plainClient, plain);
  });
  after(async () => {
    for (const client of open) await client.endAsync(true);
    await emu.close();
    // Neither the AccessKey secret nor any signature sent ever comes back or reaches the log.
    for (const text of [...seen.answers, ...logged]) {
      assert.ok(!text.includes(AK.accessKeySecret), `secret in: ${text}`);
      for (const signature of seen.signatures) assert.ok(!text.includes(signature), `signature in: ${text}`);
    }
  });

  it('Pub (official client, POST): the decoded bytes reach the device on its custom topic at the QoS asked', async () => {
    const topic = `/${plain.productKey}/${plain.deviceName}/user/get`;
    await plainClient.subscribeAsync(topic, { qos: 1 });
    const got = nextMessage(plainClient, topic);
    const answer = await official.request<Body>(
      'Pub',
      { ProductKey: plain.productKey, TopicFullName: topic, MessageContent: b64('hello 世界'), Qos: 1 },
      { method: 'POST' },
    );
    assert.equal(answer.Success, true);
    assert.match(String(answer.MessageId), /^\d+$/);
    assert.match(String(answer.RequestId), UUID);
    const message = await got;
    assert.equal(message.payload.toString(), 'hello 世界');
    assert.equal(message.qos, 1);
  });

  it("Pub (this signer, GET): the product's broadcast topic reaches its devices", async () => {
    const topic = `/broadcast/${plain.productKey}/news`;
    await plainClient.subscribeAsync(`/broadcast/${plain.productKey}/+`, { qos: 0 });
    const got = nextMessage(plainClient, topic);
    const answer = await call(
      emu,
      'Pub',
      { ProductKey: plain.productKey, TopicFullName: topic, MessageContent: b64('to all') },
      { method: 'GET' },
    );
    assertOk(answer);
    assert.equal((await got).payload.toString(), 'to all');
    // Another product's devices may not subscribe to it; no device may publish on it.
    await assert.rejects(lampClient.subscribeAsync(`/broadcast/${plain.productKey}/+`, { qos: 0 }), (err: unknown) => {
      assert.deepEqual((err as { packet?: { granted?: number[] } }).packet?.granted, [128]);
      return true;
    });
    const device = emu.registry.device(plain.productKey, plain.deviceName);
    const dropsBefore = device?.counters.drops['forbidden-topic'] ?? 0;
    await plainClient.publishAsync(topic, 'from a device', { qos: 0 });
    await eventually(() => (device?.counters.drops['forbidden-topic'] ?? 0) > dropsBefore, 5000, 'the drop');
  });

  it('Pub refuses /sys/ topics, other products, unknown devices and content that is not base64', async () => {
    const pub = (TopicFullName: string, MessageContent = b64('x'), ProductKey = plain.productKey) =>
      call(emu, 'Pub', { ProductKey, TopicFullName, MessageContent });
    assertActionError(
      await pub(`${sysOf(plain)}/thing/service/property/set`),
      'iot.messagebroker.InvalidFormattedTopicName',
    );
    assertActionError(
      await pub(`/${lamp.productKey}/${lamp.deviceName}/user/get`),
      'iot.messagebroker.InvalidFormattedTopicName',
    );
    assertActionError(await pub(`/${plain.productKey}/+/user/get`), 'iot.messagebroker.InvalidFormattedTopicName');
    assertActionError(await pub(`/${plain.productKey}/nobody/user/get`), 'iot.device.NotExistedDevice');
    assertActionError(await pub(`/nope/dev/user/get`, b64('x'), 'nope'), 'iot.prod.NotExistedProduct');
    assertActionError(
      await pub(`/${plain.productKey}/${plain.deviceName}/user/get`, 'not base64!'),
      'iot.messagebroker.MessageContentIsNotBase64Encode',
    );
    // A required parameter left out is the gateway's refusal, naming it.
    const missing = await call(emu, 'Pub', { ProductKey: plain.productKey, MessageContent: b64('x') });
    assertPop(missing, 400, 'MissingTopicFullName');
  });

  it("RRpc: the device's answer as PayloadBase64Byte; TIMEOUT when it is silent; OFFLINE; the timeout's range", async () => {
    plainRrpc.answer = (payload) => Buffer.concat([Buffer.from('re:'), payload]);
    const answer = await official.request<Body>(
      'RRpc',
      { ProductKey: plain.productKey, DeviceName: plain.deviceName, RequestBase64Byte: b64('ping'), Timeout: 3000 },
      { method: 'POST' },
    );
    assert.equal(answer.Success, true);
    assert.equal(answer.RrpcCode, 'SUCCESS');
    assert.equal(Buffer.from(String(answer.PayloadBase64Byte), 'base64').toString(), 're:ping');
    assert.match(String(answer.MessageId), /^\d+$/);
    assert.equal(plainRrpc.requests.at(-1)?.toString(), 'ping');

    plainRrpc.answer = () => undefined;
    const started = Date.now();
    const silent = await call(emu, 'RRpc', {
      ProductKey: plain.productKey,
      DeviceName: plain.deviceName,
      RequestBase64Byte: b64('ping'),
      Timeout: '1000',
    });
    assert.equal(assertOk(silent).RrpcCode, 'TIMEOUT');
    assert.equal(silent.body.PayloadBase64Byte, undefined);
    assert.ok(Date.now() - started >= 900);

    const away = await call(emu, 'RRpc', {
      ProductKey: idle.productKey,
      DeviceName: idle.deviceName,
      RequestBase64Byte: b64('ping'),
      Timeout: '1000',
    });
    assert.equal(assertOk(away).RrpcCode, 'OFFLINE');
    for (const Timeout of ['999', '8001', 'soon'])
      assertActionError(
        await call(emu, 'RRpc', {
          ProductKey: plain.productKey,
          DeviceName: plain.deviceName,
          RequestBase64Byte: b64('x'),
          Timeout,
        }),
        'iot.messagebroker.InvalidTimeoutValue',
      );
    assertActionError(
      await call(emu, 'RRpc', {
        ProductKey: plain.productKey,
        DeviceName: 'ghost',
        RequestBase64Byte: b64('x'),
        Timeout: '1000',
      }),
      'iot.device.NotExistedDevice',
    );
  });

  it('RRpc with Topic: /ext/rrpc/{messageId}{Topic} to an ext=1 device, answered on the same topic', async () => {
    const client = await connectSigned(emu, lampExt, ',ext=1');
    open.push(client);
    const topic = `/${lampExt.productKey}/${lampExt.deviceName}/user/ask`;
    await client.subscribeAsync(`/ext/rrpc/+${topic}`, { qos: 0 });
    const requests: string[] = [];
    client.on('message', (t: string, payload: Buffer) => {
      if (!t.startsWith('/ext/rrpc/')) return;
      requests.push(t);
      void client.publishAsync(t, `answer to ${payload.toString()}`, { qos: 0 });
    });
    const answer = await call(emu, 'RRpc', {
      ProductKey: lampExt.productKey,
      DeviceName: lampExt.deviceName,
      RequestBase64Byte: b64('q'),
      Timeout: '3000',
      Topic: topic,
    });
    const body = assertOk(answer);
    assert.equal(body.RrpcCode, 'SUCCESS');
    assert.equal(Buffer.from(String(body.PayloadBase64Byte), 'base64').toString(), 'answer to q');
    assert.deepEqual(requests, [`/ext/rrpc/${String(body.MessageId)}${topic}`]);
    assertActionError(
      await call(emu, 'RRpc', {
        ProductKey: lampExt.productKey,
        DeviceName: lampExt.deviceName,
        RequestBase64Byte: b64('q'),
        Timeout: '1000',
        Topic: `${sysOf(lampExt)}/thing/service/x`,
      }),
      'iot.messagebroker.InvalidFormattedTopicName',
    );
  });

  it('SetDeviceProperty: Items, a JSON string, sent on thing/service/property/set; its id is Data.MessageId', async () => {
    const got = nextMessage(lampClient, `${sysOf(lamp)}/thing/service/property/set`);
    const answer = await official.request<Body>(
      'SetDeviceProperty',
      {
        ProductKey: lamp.productKey,
        DeviceName: lamp.deviceName,
        Items: JSON.stringify({ LightSwitch: 1, Brightness: 40 }),
      },
      { method: 'POST' },
    );
    assert.equal(answer.Success, true);
    const request = JSON.parse((await got).payload.toString()) as Record<string, unknown>;
    assert.deepEqual(request.params, { LightSwitch: 1, Brightness: 40 });
    assert.equal(request.method, 'thing.service.property.set');
    assert.equal(request.id, answer.Data?.MessageId);
  });

  it('SetDeviceProperty refuses Items that are not a JSON string of an object, TSL breaks, offline devices', async () => {
    const set = (Items: string, device: { productKey: string; deviceName: string } = lamp) =>
      call(emu, 'SetDeviceProperty', { ProductKey: device.productKey, DeviceName: device.deviceName, Items });
    for (const items of ['LightSwitch=1', '{"LightSwitch":1', '[1]', '"text"'])
      assertActionError(await set(items), 'iot.check.InvalidFormattedParameter');
    assertActionError(await set('{}'), 'iot.device.NoneDeviceProperties');
    assertActionError(await set('{"Temperature":20.5}'), 'iot.device.InvalidFormattedProperty');
    assertActionError(await set('{"Nope":1}'), 'iot.thing.InvalidIdentifier');
    assertActionError(await set('{"a":1}', idle), 'iot.messagebroker.OFFLINE');
    assertActionError(
      await set('{"a":1}', { productKey: plain.productKey, deviceName: 'ghost' }),
      'iot.device.NotExistedDevice',
    );
    assertPop(
      await call(emu, 'SetDeviceProperty', { ProductKey: lamp.productKey, DeviceName: lamp.deviceName }),
      400,
      'MissingItems',
    );
    assertActionError(await call(emu, 'SetDeviceProperty', { Items: '{"a":1}' }), 'iot.prod.NullProductKey');
  });

  it('InvokeThingService: a sync service over RRPC, the reply data as Data.Result (official client)', async () => {
    lampRrpc.answer = (payload) => {
      const request = JSON.parse(payload.toString()) as { id: string; method: string; params: { On: number } };
      assert.equal(request.method, 'thing.service.ToggleRelay');
      return JSON.stringify({ id: request.id, code: 200, data: { Relay: request.params.On }, message: 'success' });
    };
    const answer = await official.request<Body>(
      'InvokeThingService',
      { ProductKey: lamp.productKey, DeviceName: lamp.deviceName, Identifier: 'ToggleRelay', Args: '{"On":1}' },
      { method: 'POST' },
    );
    assert.equal(answer.Success, true);
    assert.equal(typeof answer.Data?.Result, 'string');
    assert.deepEqual(JSON.parse(String(answer.Data?.Result)), { Relay: 1 });
    assert.match(String(answer.Data?.MessageId), /^\d+$/);

    lampRrpc.answer = (payload) => {
      const request = JSON.parse(payload.toString()) as { id: string };
      return JSON.stringify({ id: request.id, code: 9201, data: {}, message: 'relay stuck' });
    };
    const failed = await call(emu, 'InvokeThingService', {
      ProductKey: lamp.productKey,
      DeviceName: lamp.deviceName,
      Identifier: 'ToggleRelay',
      Args: '{"On":0}',
    });
    assertActionError(failed, 'iot.device.InvokeThingServiceFailed');
    assert.match(String(failed.body.ErrorMessage), /9201/);
  });

  it('InvokeThingService: async services (TSL async, or no TSL) go on thing/service/{id} and answer at once', async () => {
    const got = nextMessage(lampClient, `${sysOf(lamp)}/thing/service/SetMode`);
    const answer = await call(emu, 'InvokeThingService', {
      ProductKey: lamp.productKey,
      DeviceName: lamp.deviceName,
      Identifier: 'SetMode',
      Args: '{"Mode":2}',
    });
    const body = assertOk(answer);
    assert.equal(body.Data?.Result, undefined);
    const request = JSON.parse((await got).payload.toString()) as Record<string, unknown>;
    assert.deepEqual(
      [request.method, request.params, request.id],
      ['thing.service.SetMode', { Mode: 2 }, body.Data?.MessageId],
    );

    const noTsl = nextMessage(plainClient, `${sysOf(plain)}/thing/service/Reboot`);
    assertOk(
      await call(emu, 'InvokeThingService', {
        ProductKey: plain.productKey,
        DeviceName: plain.deviceName,
        Identifier: 'Reboot',
        Args: '{}',
      }),
    );
    assert.equal(alink(await noTsl).method, 'thing.service.Reboot');
  });

  it('InvokeThingService refuses Args that are not a JSON object, unknown services, offline devices', async () => {
    const invoke = (Identifier: string, Args: string, device: { productKey: string; deviceName: string } = lamp) =>
      call(emu, 'InvokeThingService', {
        ProductKey: device.productKey,
        DeviceName: device.deviceName,
        Identifier,
        Args,
      });
    assertActionError(await invoke('SetMode', 'Mode=2'), 'iot.check.InvalidFormattedParameter');
    assertActionError(await invoke('SetMode', '[]'), 'iot.check.InvalidFormattedParameter');
    assertActionError(await invoke('NoSuchService', '{}'), 'iot.thing.InvalidIdentifier');
    assertActionError(await invoke('Reboot', '{}', idle), 'iot.messagebroker.OFFLINE');
    assertPop(
      await call(emu, 'InvokeThingService', {
        ProductKey: lamp.productKey,
        DeviceName: lamp.deviceName,
        Identifier: 'SetMode',
      }),
      400,
      'MissingArgs',
    );
  });

  it('QueryDeviceDetail: the fields, the secret as the platform gives it, and the IotId other actions take', async () => {
    const answer = await official.request<Body>(
      'QueryDeviceDetail',
      { ProductKey: lamp.productKey, DeviceName: lamp.deviceName },
      { method: 'POST' },
    );
    const data = answer.Data as Record<string, unknown>;
    assert.equal(answer.Success, true);
    assert.deepEqual(
      [data.ProductKey, data.DeviceName, data.DeviceSecret, data.Status, data.NodeType, data.Region],
      [lamp.productKey, lamp.deviceName, lamp.deviceSecret, 'ONLINE', 0, 'cn-shanghai'],
    );
    assert.match(String(data.IotId), /^[A-Za-z0-9]{20,}$/);
    assert.match(String(data.GmtOnline), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    assert.match(String(data.UtcOnline), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    // Gmt* is Beijing time, 8 hours after Utc*.
    const utc = Date.parse(String(data.UtcOnline));
    assert.equal(
      Date.parse(`${String(data.GmtOnline).replace(' ', 'T')}Z`) - Math.floor(utc / 1000) * 1000,
      8 * 3600_000,
    );

    const byIotId = await call(emu, 'QueryDeviceDetail', { IotId: String(data.IotId) });
    assert.equal(assertOk(byIotId).Data?.DeviceName, lamp.deviceName);
    const got = nextMessage(lampClient, `${sysOf(lamp)}/thing/service/property/set`);
    assertOk(await call(emu, 'SetDeviceProperty', { IotId: String(data.IotId), Items: '{"Brightness":7}' }));
    assert.deepEqual(alink(await got).params, { Brightness: 7 });

    const status = async (d: { productKey: string; deviceName: string }) =>
      assertOk(await call(emu, 'QueryDeviceDetail', { ProductKey: d.productKey, DeviceName: d.deviceName })).Data
        ?.Status;
    assert.equal(await status(idle), 'OFFLINE');
    assert.equal(await status(unregistered), 'UNACTIVE');
    assertActionError(
      await call(emu, 'QueryDeviceDetail', { ProductKey: lamp.productKey, DeviceName: 'ghost' }),
      'iot.device.NotExistedDevice',
    );
    assertActionError(
      await call(emu, 'QueryDeviceDetail', { IotId: 'NoSuchIotId0000000000000100' }),
      'iot.device.NotExistedDevice',
    );
  });

  it('UpdateDeviceShadow writes desired and pushes control; GetDeviceShadow answers the document as a JSON string', async () => {
    const shadowTopic = `/shadow/get/${lamp.productKey}/${lamp.deviceName}`;
    const control = nextMessage(lampClient, shadowTopic);
    const update = (ShadowMessage: string, extra: Record<string, string> = {}) =>
      call(emu, 'UpdateDeviceShadow', {
        ProductKey: lamp.productKey,
        DeviceName: lamp.deviceName,
        ShadowMessage,
        ...extra,
      });
    assertOk(await update(JSON.stringify({ method: 'update', state: { desired: { color: 'green' } }, version: 1 })));
    const pushed = JSON.parse((await control).payload.toString()) as Record<string, unknown> & {
      payload: { state: { desired: unknown } };
    };
    assert.equal(pushed.method, 'control');
    assert.deepEqual(pushed.payload.state.desired, { color: 'green' });

    const read = async () => {
      const answer = await official.request<Body>(
        'GetDeviceShadow',
        { ProductKey: lamp.productKey, DeviceName: lamp.deviceName },
        { method: 'POST' },
      );
      assert.equal(typeof answer.ShadowMessage, 'string');
      return JSON.parse(String(answer.ShadowMessage)) as {
        state: { desired?: unknown };
        version: number;
        timestamp: number;
      };
    };
    const first = await read();
    assert.deepEqual([first.state.desired, first.version], [{ color: 'green' }, 1]);
    assert.ok(Number.isInteger(first.timestamp));

    // A version not above the current one is refused; 0 skips the check; DeltaUpdate merges.
    assertActionError(
      await update(JSON.stringify({ method: 'update', state: { desired: { color: 'red' } }, version: 1 })),
      'iot.messagebroker.InvalidVersionValueInShadowMessage',
    );
    assertOk(
      await update(JSON.stringify({ method: 'update', state: { desired: { size: 2 } }, version: 0 }), {
        DeltaUpdate: 'true',
      }),
    );
    assert.deepEqual((await read()).state.desired, { color: 'green', size: 2 });
    assertOk(await update(JSON.stringify({ method: 'update', state: { desired: { size: 3 } }, version: 0 })));
    const replaced = await read();
    assert.deepEqual([replaced.state.desired, replaced.version], [{ size: 3 }, 3]);

    assertActionError(await update('{"method":"update"'), 'iot.messagebroker.ShadowMessageIsNotJson');
    assertActionError(
      await update('{"method":"get","state":{"desired":{"a":1}},"version":9}'),
      'iot.messagebroker.MethodValueIsNotUpdate',
    );
    assertActionError(
      await update('{"method":"update","state":{"desired":{"a":1}}}'),
      'iot.messagebroker.NotFoundVersionOrNullVersionValue',
    );
    assertActionError(
      await update('{"method":"update","state":{"reported":{"a":1}},"version":9}'),
      'iot.messagebroker.NotFoundDesireInShadowMessage',
    );
    assertActionError(
      await call(emu, 'GetDeviceShadow', { ProductKey: lamp.productKey, DeviceName: 'ghost' }),
      'iot.device.NotExistedDevice',
    );
  });

  it('refuses a wrong signature (400 SignatureDoesNotMatch) and an unknown AccessKey (404), counted as guesses', async () => {
    const before = emu.stats().guessing.failures.api;
    const pubParams = {
      ProductKey: plain.productKey,
      TopicFullName: `/${plain.productKey}/${plain.deviceName}/user/get`,
      MessageContent: b64('x'),
    };
    const wrong = await call(emu, 'Pub', pubParams, { secret: 'not-the-secret' });
    assertPop(wrong, 400, 'SignatureDoesNotMatch');
    assert.notEqual(
      wrong.body.RequestId,
      (await call(emu, 'Pub', pubParams, { secret: 'not-the-secret' })).body.RequestId,
    );
    // A parameter changed after signing; a GET signed as a POST.
    const tampered = await call(emu, 'Pub', pubParams, { signChanged: { Qos: '1' } });
    assertPop(tampered, 400, 'SignatureDoesNotMatch');
    assertPop(await call(emu, 'Pub', pubParams, { method: 'GET', signAs: 'POST' }), 400, 'SignatureDoesNotMatch');
    assertPop(
      await call(emu, 'Pub', pubParams, { common: { AccessKeyId: 'LTAIunknown' } }),
      404,
      'InvalidAccessKeyId.NotFound',
    );
    assert.equal(emu.stats().guessing.failures.api, before + 5);
    assert.ok(
      logged.some((line) => line.includes('refused an OpenAPI call') && line.includes('SignatureDoesNotMatch')),
    );

    const err = await officialError(
      officialClient(emu, 'wrong-secret').request(
        'QueryDeviceDetail',
        { ProductKey: lamp.productKey, DeviceName: lamp.deviceName },
        { method: 'POST' },
      ),
    );
    assert.equal(err.code, 'SignatureDoesNotMatch');
    assert.match(String(err.data?.RequestId), UUID);
  });

  it('refuses a nonce used again, a timestamp 16 minutes off or malformed, missing and wrong common parameters', async () => {
    const params = { ProductKey: lamp.productKey, DeviceName: lamp.deviceName };
    const nonce = randomUUID();
    assertOk(await call(emu, 'QueryDeviceDetail', params, { common: { SignatureNonce: nonce } }));
    const before = emu.stats().guessing.failures.api;
    assertPop(
      await call(emu, 'QueryDeviceDetail', params, { common: { SignatureNonce: nonce } }),
      400,
      'SignatureNonceUsed',
    );
    // Over GET too: the nonce is the AccessKey's, whatever the method.
    assertPop(
      await call(emu, 'QueryDeviceDetail', params, { method: 'GET', common: { SignatureNonce: nonce } }),
      400,
      'SignatureNonceUsed',
    );
    assert.equal(emu.stats().guessing.failures.api, before, 'a reused nonce is not a guess');
    const old = isoSeconds(Date.now() - 16 * 60_000);
    assertPop(
      await call(emu, 'QueryDeviceDetail', params, { common: { Timestamp: old } }),
      400,
      'InvalidTimeStamp.Expired',
    );
    const ahead = isoSeconds(Date.now() + 16 * 60_000);
    assertPop(
      await call(emu, 'QueryDeviceDetail', params, { common: { Timestamp: ahead } }),
      400,
      'InvalidTimeStamp.Expired',
    );
    assertOk(
      await call(emu, 'QueryDeviceDetail', params, { common: { Timestamp: isoSeconds(Date.now() - 14 * 60_000) } }),
    );
    for (const Timestamp of ['2024-01-01 10:00:00', '1700000000', '2024-02-30T10:00:00Z'])
      assertPop(
        await call(emu, 'QueryDeviceDetail', params, { common: { Timestamp } }),
        400,
        'InvalidTimeStamp.Format',
      );
    assertPop(await call(emu, 'QueryDeviceDetail', params, { omit: ['Timestamp'] }), 400, 'MissingTimestamp');
    assertPop(await call(emu, 'QueryDeviceDetail', params, { omit: ['SignatureNonce'] }), 400, 'MissingSignatureNonce');
    assertPop(
      await call(emu, 'QueryDeviceDetail', params, { common: { Version: '2017-04-20' } }),
      400,
      'InvalidVersion',
    );
    assertPop(
      await call(emu, 'QueryDeviceDetail', params, { common: { SignatureMethod: 'HMAC-SHA256' } }),
      400,
      'InvalidSignatureMethod',
    );
    assertPop(await call(emu, 'NoSuchAction', params), 404, 'InvalidApi.NotFound');
    // Format=XML is answered in JSON all the same; RegionId may be left out (the official client does not add it).
    assertOk(await call(emu, 'QueryDeviceDetail', params, { common: { Format: 'XML' }, omit: ['RegionId'] }));
  });

  it('takes parameters from the query and the form body together; a name given twice is refused', async () => {
    const common: Record<string, string> = {
      Action: 'QueryDeviceDetail',
      Format: 'JSON',
      Version: '2018-01-20',
      AccessKeyId: AK.accessKeyId,
      SignatureMethod: 'HMAC-SHA1',
      SignatureVersion: '1.0',
      SignatureNonce: randomUUID(),
      Timestamp: isoSeconds(Date.now()),
      ProductKey: lamp.productKey,
      DeviceName: lamp.deviceName,
    };
    const Signature = sign('POST', common, AK.accessKeySecret);
    seen.signatures.push(Signature);
    const form = (o: Record<string, string>) =>
      Object.entries(o)
        .map(([k, v]) => `${enc(k)}=${enc(v)}`)
        .join('&');
    const { Action, ...rest } = common;
    const split = await httpsRaw(emu, 'POST', `/?${form({ Action: Action ?? '' })}`, {
      body: form({ ...rest, Signature }),
    });
    seen.answers.push(split.text);
    assert.equal(split.status, 200, split.text);
    assert.equal((JSON.parse(split.text) as Body).Success, true);
    const twice = await httpsRaw(emu, 'POST', `/?${form({ DeviceName: 'other' })}`, {
      body: form({ ...common, SignatureNonce: randomUUID(), Signature }),
    });
    seen.answers.push(twice.text);
    assert.equal(twice.status, 400);
    assert.equal((JSON.parse(twice.text) as Body).Code, 'InvalidParameter');
  });

  it('IotInstanceId on an instance without one: absent or empty taken, another value refused', async () => {
    const params = { ProductKey: lamp.productKey, DeviceName: lamp.deviceName };
    assertOk(await call(emu, 'QueryDeviceDetail', { ...params, IotInstanceId: '' }));
    assertActionError(
      await call(emu, 'QueryDeviceDetail', { ...params, IotInstanceId: 'iot-06z00other' }),
      'iot.system.InstanceNotFound',
    );
  });
});

describe('emulator: the OpenAPI on an instance with an ID, and its limits', () => {
  const instance = 'iot-06z00openapi';
  let emu: Emulator;

  before(async () => {
    emu = await start({
      accounts: [AK],
      iotInstanceId: instance,
      devices: [plain],
      openApiLimits: { qps: { QueryDeviceDetail: 2 }, nonceWindowMs: 1500 },
      log: () => undefined,
    });
  });
  after(async () => {
    await emu.close();
  });

  it('needs IotInstanceId, equal to the instance ID (official client too)', async () => {
    const params = { ProductKey: plain.productKey, DeviceName: plain.deviceName };
    assertActionError(await call(emu, 'GetDeviceShadow', params), 'iot.common.InvalidTenant');
    assertActionError(await call(emu, 'GetDeviceShadow', { ...params, IotInstanceId: '' }), 'iot.common.InvalidTenant');
    assertActionError(
      await call(emu, 'GetDeviceShadow', { ...params, IotInstanceId: 'iot-06z00other' }),
      'iot.system.InstanceNotFound',
    );
    assertOk(await call(emu, 'GetDeviceShadow', { ...params, IotInstanceId: instance }));
    const answer = await officialClient(emu).request<Body>(
      'GetDeviceShadow',
      { ...params, IotInstanceId: instance },
      { method: 'POST' },
    );
    assert.equal(answer.Success, true);
    const err = await officialError(officialClient(emu).request('GetDeviceShadow', params, { method: 'POST' }));
    assert.equal(err.code, 'iot.common.InvalidTenant');
  });

  it('throttles an action past its calls per second per AccessKey (Throttling.User), other actions unaffected', async () => {
    const params = { ProductKey: plain.productKey, DeviceName: plain.deviceName, IotInstanceId: instance };
    await sleep(1000);
    assertOk(await call(emu, 'QueryDeviceDetail', params));
    assertOk(await call(emu, 'QueryDeviceDetail', params));
    assertPop(await call(emu, 'QueryDeviceDetail', params), 400, 'Throttling.User');
    assertOk(await call(emu, 'GetDeviceShadow', params));
    await sleep(1100);
    assertOk(await call(emu, 'QueryDeviceDetail', params));
  });

  it('forgets a nonce after its window (configured short here)', async () => {
    const params = { ProductKey: plain.productKey, DeviceName: plain.deviceName, IotInstanceId: instance };
    const nonce = randomUUID();
    assertOk(await call(emu, 'GetDeviceShadow', params, { common: { SignatureNonce: nonce } }));
    assertPop(
      await call(emu, 'GetDeviceShadow', params, { common: { SignatureNonce: nonce } }),
      400,
      'SignatureNonceUsed',
    );
    await sleep(1600);
    assertOk(await call(emu, 'GetDeviceShadow', params, { common: { SignatureNonce: nonce } }));
  });

  it('refuses to start with limits that are not whole numbers', async () => {
    await assert.rejects(startEmulator({ openApiLimits: { qps: { Pub: -1 } } }), /openApiLimits\.qps\.Pub/);
  });
});
