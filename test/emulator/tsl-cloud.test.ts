// The cloud side of a product's thing model: `GET /api/products/{pk}/tsl`, property sets and service
// calls that break the TSL refused before reaching the device (as SetDeviceProperty and
// InvokeThingService refuse them), device replies checked against outputData, and the state file.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { Emulator } from '../../emulator/index';
import { connectSigned, https, httpsRaw, nextMessage, start } from '../helpers/emulator';
import { demoLamp } from './tsl-fixture';

const lamp = { productKey: 'a1DemoPk', deviceName: 'lamp', deviceSecret: 'lamp-secret' };
const plain = { productKey: 'pkPlain', deviceName: 'plain', deviceSecret: 'plain-secret' };
const sys = `/sys/${lamp.productKey}/${lamp.deviceName}`;
const api = `/api/devices/${lamp.productKey}/${lamp.deviceName}`;

type Refusal = { code: string; message: string; identifier: string; rule: string };

describe('emulator: the cloud API and thing models', () => {
  let emu: Emulator;
  let client: MqttClient;
  const logged: string[] = [];

  before(async () => {
    emu = await start({
      rateLimit: 0,
      log: (line) => logged.push(line),
      products: [{ productKey: 'a1DemoPk', tsl: demoLamp() }, { productKey: 'pkPlain' }],
      devices: [lamp, plain],
    });
    client = await connectSigned(emu, lamp);
    await client.subscribeAsync(`${sys}/#`, { qos: 1 });
  });
  after(async () => {
    await client.endAsync(true);
    await emu.close();
  });

  /** Answers the next call on `topic` with `data`, echoing its id. */
  function answer(topic: string, data: unknown): Promise<Record<string, unknown>> {
    return nextMessage(client, topic).then(async (m) => {
      const request = JSON.parse(m.payload.toString()) as { id: string; params: Record<string, unknown> };
      await client.publishAsync(`${topic}_reply`, JSON.stringify({ id: request.id, code: 200, data }), { qos: 0 });
      return request.params;
    });
  }

  async function refusedWith(path: string, body: object, code: string, identifier: string): Promise<Refusal> {
    const answer = await https(emu, 'POST', path, body);
    assert.equal(answer.status, 400, JSON.stringify(answer.body));
    const refusal = answer.body as unknown as Refusal;
    assert.equal(refusal.code, code);
    assert.equal(refusal.identifier, identifier);
    assert.ok(refusal.rule.length > 0 && refusal.message.includes(identifier), refusal.message);
    return refusal;
  }

  it('serves the TSL as given; 404 with a code for a product without one or no product', async () => {
    const got = await https(emu, 'GET', '/api/products/a1DemoPk/tsl');
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, demoLamp());
    const none = await https(emu, 'GET', '/api/products/pkPlain/tsl');
    assert.deepEqual([none.status, none.body.code], [404, 'TSL_NOT_FOUND']);
    const ghost = await https(emu, 'GET', '/api/products/pkGhost/tsl');
    assert.deepEqual([ghost.status, ghost.body.code], [404, 'PRODUCT_NOT_FOUND']);
    assert.equal((await https(emu, 'POST', '/api/products/a1DemoPk/tsl', {})).status, 405);
  });

  it('sets properties that fit the TSL, refusing the rest before the device hears of them', async () => {
    let heard = 0;
    const count = (topic: string) => (heard += topic === `${sys}/thing/service/property/set` ? 1 : 0);
    client.on('message', count);
    const bad = `${api}/properties`;
    const range = await refusedWith(
      bad,
      { params: { Brightness: 101 } },
      'iot.device.InvalidFormattedProperty',
      'Brightness',
    );
    assert.match(range.rule, /at most 100/);
    await refusedWith(bad, { params: { LightSwitch: true } }, 'iot.device.InvalidFormattedProperty', 'LightSwitch');
    await refusedWith(
      bad,
      { params: { Location: { lat: 95 } } },
      'iot.device.InvalidFormattedProperty',
      'Location.lat',
    );
    await refusedWith(bad, { params: { Colour: 'red' } }, 'iot.thing.InvalidIdentifier', 'Colour');
    const readOnly = await refusedWith(
      bad,
      { params: { Firmware: '2.0' } },
      'iot.device.InvalidFormattedProperty',
      'Firmware',
    );
    assert.match(readOnly.rule, /read-only/);
    const params = { LightSwitch: 1, Mode: 2, Schedule: [{ Hour: 7, Mode: 1 }], InstallDate: '1700000000000' };
    const received = answer(`${sys}/thing/service/property/set`, {});
    const ok = await https(emu, 'POST', bad, { params, timeoutMs: 3000 });
    assert.equal((ok.body as { code: string }).code, 'SUCCESS');
    assert.deepEqual(await received, params);
    client.off('message', count);
    assert.equal(heard, 1, 'only the call that fits reached the device');
  });

  it('invokes services with inputs that fit; refuses unknown services, inputs and bad values', async () => {
    const path = `${api}/services/ToggleRelay`;
    await refusedWith(path, { params: { On: 2 } }, 'iot.check.InvalidFormattedParameter', 'ToggleRelay.On');
    await refusedWith(path, { params: { Off: 1 } }, 'iot.thing.InvalidIdentifier', 'ToggleRelay.Off');
    await refusedWith(path, { params: 'on' }, 'iot.check.InvalidFormattedParameter', 'ToggleRelay');
    await refusedWith(`${api}/services/Reboot`, { params: {} }, 'iot.thing.InvalidIdentifier', 'Reboot');
    const received = answer(`${sys}/thing/service/ToggleRelay`, { Relay: 1 });
    const ok = await https(emu, 'POST', path, { params: { On: 1 }, timeoutMs: 3000 });
    assert.deepEqual(await received, { On: 1 });
    const body = ok.body as { code: string; reply: { data: unknown }; tslWarning?: string };
    assert.equal(body.code, 'SUCCESS');
    assert.deepEqual(body.reply.data, { Relay: 1 });
    assert.equal(body.tslWarning, undefined);
  });

  it('passes on a service reply that breaks outputData, with a warning, and logs it', async () => {
    const received = answer(`${sys}/thing/service/ToggleRelay`, { Relay: true });
    const got = await https(emu, 'POST', `${api}/services/ToggleRelay`, { params: { On: 0 }, timeoutMs: 3000 });
    await received;
    const body = got.body as { code: string; reply: { data: unknown }; tslWarning?: string };
    assert.equal(body.code, 'SUCCESS');
    assert.deepEqual(body.reply.data, { Relay: true });
    assert.match(body.tslWarning ?? '', /ToggleRelay\.Relay/);
    assert.ok(
      logged.some((line) => line.includes('ToggleRelay.Relay') && line.includes('lamp')),
      logged.join('\n'),
    );
  });

  it('checks RRPC service calls and their replies too', async () => {
    const path = `${api}/rrpc`;
    await refusedWith(path, { service: 'Echo', params: { n: 1.5 } }, 'iot.check.InvalidFormattedParameter', 'Echo.n');
    await refusedWith(path, { service: 'Nope', params: {} }, 'iot.thing.InvalidIdentifier', 'Nope');
    const prefix = `${sys}/rrpc/request/`;
    const onRequest = (topic: string, payload: Buffer) => {
      if (!topic.startsWith(prefix)) return;
      const request = JSON.parse(payload.toString()) as { id: string; params: { n: number } };
      const data = request.params.n === 1 ? { n: 1 } : { n: 'many' };
      const reply = JSON.stringify({ id: request.id, code: 200, data });
      void client.publishAsync(`${sys}/rrpc/response/${topic.slice(prefix.length)}`, reply, { qos: 0 });
    };
    client.on('message', onRequest);
    const ok = await https(emu, 'POST', path, { service: 'Echo', params: { n: 1 }, timeoutMs: 3000 });
    const warned = await https(emu, 'POST', path, { service: 'Echo', params: { n: 2 }, timeoutMs: 3000 });
    client.off('message', onRequest);
    assert.equal((ok.body as { code: string }).code, 'SUCCESS');
    assert.equal((ok.body as { tslWarning?: string }).tslWarning, undefined);
    assert.match((warned.body as { tslWarning?: string }).tslWarning ?? '', /Echo\.n/);
    // A raw RRPC payload is not a service call: nothing to check.
    const raw = await https(emu, 'POST', path, { payload: 'ping', timeoutMs: 1000 });
    assert.equal(raw.status, 200);
  });

  it('leaves a product without TSL as it was: any property, any service', async () => {
    const base = `/api/devices/${plain.productKey}/${plain.deviceName}`;
    const set = await https(emu, 'POST', `${base}/properties`, { params: { Anything: true } });
    assert.deepEqual([set.status, (set.body as { code: string }).code], [200, 'SUCCESS']);
    const call = await https(emu, 'POST', `${base}/services/Whatever`, { params: { x: 'y' } });
    assert.equal(call.status, 200);
    assert.equal((await https(emu, 'POST', `${base}/services/mod:Whatever`, {})).status, 400);
  });
});

describe('emulator: the TSL route is behind the API token like the rest of /api', () => {
  it('needs the bearer token when there is one, and the TSL never reaches the state file', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'emu-tsl-'));
    const emu = await start({
      apiToken: 'tsl-token',
      dataDir,
      log: () => undefined,
      products: [{ productKey: 'pkT', tsl: demoLamp() }],
    });
    try {
      assert.equal((await httpsRaw(emu, 'GET', '/api/products/pkT/tsl')).status, 401);
      const ok = await httpsRaw(emu, 'GET', '/api/products/pkT/tsl', {
        headers: { authorization: 'Bearer tsl-token' },
      });
      assert.equal(ok.status, 200);
      assert.deepEqual(JSON.parse(ok.text), demoLamp());
    } finally {
      await emu.close();
    }
    const state = JSON.parse(readFileSync(join(dataDir, 'state.json'), 'utf8')) as { products: unknown[] };
    assert.deepEqual(state.products, [{ productKey: 'pkT' }]);
  });
});
