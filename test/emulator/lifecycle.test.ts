// Disable, enable and delete from the cloud (PLATFORM.md §16.3, DOC:89303): the notice to an
// online device, its reply, the closed connection and refused CONNECTs, sub-devices through their
// gateway (topo/change, §11), and the flags across restarts.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { Emulator } from '../../emulator/index';
import { connectSigned, https, nextMessage, refusalCode, start } from '../helpers/emulator';
import { apiOf, bindAndLogin, json, sysOf, type Login } from './device-fixture';

const lamp = { productKey: 'pkLife', deviceName: 'lamp', deviceSecret: 'lamp-secret' };
const mute = { productKey: 'pkLife', deviceName: 'mute', deviceSecret: 'mute-secret' };
const doomed = { productKey: 'pkLife', deviceName: 'doomed', deviceSecret: 'doomed-secret' };
const gw = { productKey: 'pkLifeGw', deviceName: 'gw', deviceSecret: 'gw-secret' };
const gw2 = { productKey: 'pkLifeGw', deviceName: 'gw2', deviceSecret: 'gw2-secret' };
const sub = { productKey: 'pkLifeSub', deviceName: 'sub', deviceSecret: 'sub-secret' };
const sub2 = { productKey: 'pkLifeSub', deviceName: 'sub2', deviceSecret: 'sub2-secret' };

const closed = (client: MqttClient) => new Promise<void>((resolve) => client.once('close', () => resolve()));

describe('emulator: disable, enable and delete', () => {
  let emu: Emulator;
  const open: MqttClient[] = [];
  const connect = async (d: Login, ext = '') => {
    const client = await connectSigned(emu, d, ext);
    open.push(client);
    return client;
  };
  /** Answers every notice on its `_reply` topic with the request's id (as a number when asked). */
  const answering = async (client: MqttClient, d: Login, numericId = false) => {
    await client.subscribeAsync(`${sysOf(d)}/thing/+`, { qos: 0 });
    client.on('message', (topic, payload) => {
      const notice = /\/thing\/(disable|enable|delete)$/.exec(topic)?.[1];
      if (!notice) return;
      const { id } = JSON.parse(payload.toString()) as { id: string };
      const reply = { id: numericId ? Number(id) : id, code: 200, data: {} };
      void client.publishAsync(`${topic}_reply`, JSON.stringify(reply), { qos: 0 });
    });
  };
  before(async () => {
    emu = await start({
      rateLimit: 0,
      products: [{ productKey: gw.productKey, nodeType: 'gateway' }],
      devices: [lamp, mute, doomed, gw, gw2, sub, sub2],
    });
  });
  after(async () => {
    for (const c of open) await c.endAsync(true);
    await emu.close();
  });

  it('disables an online device: notice, reply, connection closed, CONNECT refused with 5; enable lifts it', async () => {
    const client = await connect(lamp);
    await answering(client, lamp, true);
    const notice = nextMessage(client, `${sysOf(lamp)}/thing/disable`);
    const gone = closed(client);
    const answer = await https(emu, 'POST', `${apiOf(lamp)}/disable`);
    const request = json(await notice);
    assert.deepEqual(
      { ...request, id: undefined },
      { id: undefined, version: '1.0', params: {}, method: 'thing.disable' },
    );
    assert.match(String(request.id), /^\d+$/);
    assert.equal(answer.status, 200);
    assert.deepEqual(
      [answer.body.code, answer.body.disabled, answer.body.online, answer.body.notified, answer.body.replied],
      ['SUCCESS', true, true, true, true],
    );
    // The reply's numeric id is taken as it came.
    const reply = answer.body.reply as { id: unknown; code: unknown; notice: string };
    assert.deepEqual([reply.notice, reply.id, reply.code], ['disable', Number(request.id), 200]);
    await gone;
    const device = emu.registry.device(lamp.productKey, lamp.deviceName);
    assert.ok(device);
    assert.equal(device.lastDisconnectReason, 'disabled');
    assert.equal(emu.lifecycle.repliesOf(device).at(-1)?.notice, 'disable');
    assert.equal((await https(emu, 'GET', apiOf(lamp))).body.disabled, true);
    assert.equal(await refusalCode(connectSigned(emu, lamp)), 5);

    const enabled = await https(emu, 'POST', `${apiOf(lamp)}/enable`);
    assert.deepEqual(
      [enabled.body.code, enabled.body.disabled, enabled.body.online, enabled.body.replied],
      ['SUCCESS', false, false, false],
    );
    assert.equal((await https(emu, 'GET', apiOf(lamp))).body.disabled, false);
    const again = await connect(lamp);
    assert.equal(again.connected, true);
  });

  it('waits a bounded time for a device that does not answer; _ss=1 gets the notice without subscribing', async () => {
    const client = await connect(mute, ',_ss=1');
    const notice = nextMessage(client, `${sysOf(mute)}/thing/disable`);
    const gone = closed(client);
    const started = Date.now();
    const answer = await https(emu, 'POST', `${apiOf(mute)}/disable`, { timeoutMs: 300 });
    assert.ok(Date.now() - started < 2000, `waited ${Date.now() - started} ms`);
    assert.deepEqual([answer.body.notified, answer.body.replied], [true, false]);
    assert.equal(json(await notice).method, 'thing.disable');
    await gone;
    // Offline: nothing to tell, no wait.
    const offline = await https(emu, 'POST', `${apiOf(mute)}/disable`);
    assert.deepEqual([offline.body.online, offline.body.notified], [false, false]);
    assert.equal((await https(emu, 'POST', `${apiOf(mute)}/enable`)).body.disabled, false);
    assert.equal((await https(emu, 'GET', `${apiOf(mute)}/disable`)).status, 405);
    assert.equal((await https(emu, 'POST', `${apiOf(mute)}/disable`, { timeoutMs: -1 })).status, 400);
    assert.equal(emu.registry.device(mute.productKey, mute.deviceName)?.disabled, false);
  });

  it('deletes an online device: notice, reply, closed, 404 from the API, CONNECT refused with 5', async () => {
    const client = await connect(doomed);
    await answering(client, doomed);
    const notice = nextMessage(client, `${sysOf(doomed)}/thing/delete`);
    const gone = closed(client);
    const answer = await https(emu, 'POST', `${apiOf(doomed)}/delete`);
    assert.equal(json(await notice).method, 'thing.delete');
    assert.deepEqual([answer.body.code, answer.body.deleted, answer.body.replied], ['SUCCESS', true, true]);
    await gone;
    assert.equal((await https(emu, 'GET', apiOf(doomed))).status, 404);
    assert.equal((await https(emu, 'POST', `${apiOf(doomed)}/enable`)).status, 404);
    assert.equal(await refusalCode(connectSigned(emu, doomed)), 5);
    // A name that never existed is still 4.
    assert.equal(await refusalCode(connectSigned(emu, { ...doomed, deviceName: 'never' })), 4);
  });

  it('tells a gateway of its sub-device: thing/disable on the sub-device pk/dn, topo/change 8 and 2', async () => {
    const gateway = await connect(gw);
    await bindAndLogin(gateway, gw, sub);
    await answering(gateway, sub);
    const change = `${sysOf(gw)}/thing/topo/change`;
    const extError = `/ext/error/${gw.productKey}/${gw.deviceName}`;
    await gateway.subscribeAsync([change, extError], { qos: 0 });
    const notice = nextMessage(gateway, `${sysOf(sub)}/thing/disable`);
    const status = nextMessage(gateway, change);
    const error = nextMessage(gateway, extError);
    const answer = await https(emu, 'POST', `${apiOf(sub)}/disable`);
    assert.deepEqual([answer.body.notified, answer.body.replied], [true, true]);
    assert.equal(json(await notice).method, 'thing.disable');
    assert.deepEqual(json(await status).params, {
      status: 8,
      subList: [{ productKey: sub.productKey, deviceName: sub.deviceName }],
    });
    assert.equal(json(await error).code, 522);
    assert.equal(gateway.connected, true);
    const enabled = nextMessage(gateway, change);
    await https(emu, 'POST', `${apiOf(sub)}/enable`);
    assert.equal((json(await enabled).params as { status: number }).status, 2);
  });

  it('deletes a sub-device (topo/change 1, logged out with 6401) and a gateway (its topology goes)', async () => {
    const gateway = await connect(gw2);
    await bindAndLogin(gateway, gw2, sub2);
    const change = `${sysOf(gw2)}/thing/topo/change`;
    const extError = `/ext/error/${gw2.productKey}/${gw2.deviceName}`;
    await gateway.subscribeAsync([change, extError], { qos: 0 });
    const status = nextMessage(gateway, change);
    const error = nextMessage(gateway, extError);
    await https(emu, 'POST', `${apiOf(sub2)}/delete`, { timeoutMs: 0 });
    assert.equal((json(await status).params as { status: number }).status, 1);
    assert.equal(json(await error).code, 6401);
    assert.equal((await https(emu, 'GET', apiOf(sub2))).status, 404);
    assert.deepEqual((await https(emu, 'GET', `${apiOf(gw2)}/topology`)).body, []);
    // The gateway `gw` still has `sub` in its topology; deleting `gw` frees it.
    assert.equal(emu.gateways.parentOf(emu.registry.device(sub.productKey, sub.deviceName)!)?.deviceName, 'gw');
    await https(emu, 'POST', `${apiOf(gw)}/delete`, { timeoutMs: 0 });
    assert.equal(emu.gateways.parentOf(emu.registry.device(sub.productKey, sub.deviceName)!), undefined);
    assert.equal(await refusalCode(connectSigned(emu, gw)), 5);
  });
});

describe('emulator: disabled and deleted devices across restarts (dataDir)', () => {
  it('keeps the disabled flag and the deletion; a deleted device given again is created anew', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'emu-life-state-'));
    const options = { dataDir, log: () => undefined, rateLimit: 0 };
    const first = await start({ ...options, devices: [lamp, doomed] });
    try {
      await https(first, 'POST', `${apiOf(lamp)}/disable`);
      await https(first, 'POST', `${apiOf(doomed)}/delete`);
    } finally {
      await first.close();
    }
    const second = await start({ ...options, devices: [lamp] });
    try {
      assert.equal((await https(second, 'GET', apiOf(lamp))).body.disabled, true);
      assert.equal(await refusalCode(connectSigned(second, lamp)), 5);
      assert.equal(await refusalCode(connectSigned(second, doomed)), 5);
    } finally {
      await second.close();
    }
    const third = await start({ ...options, devices: [lamp, doomed] });
    try {
      assert.equal(await refusalCode(connectSigned(third, doomed)), 0);
    } finally {
      await third.close();
    }
  });
});
