// The cloud-api node against the emulator's OpenAPI: a flow commands a device that another flow
// runs (Pub, SetDeviceProperty, InvokeThingService, RRpc), reads it (QueryDeviceDetail, shadow),
// and gets the platform's refusals with their Code and RequestId. And the account's pacing, which
// keeps calls under the platform's limits where unpaced calls are throttled.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeMessage } from 'node-red';
import type { Emulator } from '../../emulator/index';
import { validateAccountOptions, type AccountOptions } from '../../nodes/lib/cloud/account-options';
import { OpenApiClient } from '../../nodes/lib/cloud/openapi-client';
import type { AliyunIotError } from '../../nodes/lib/errors';
import { eventually } from '../helpers/emulator';
import {
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
import { enableMessageHooks } from '../helpers/red-internals';
import demoTsl from '../../emulator/demo-tsl.json';

const device = { productKey: 'pkCloud', deviceName: 'cloud-dev', deviceSecret: 'cloud-device-secret' };
const account = { accessKeyId: 'LTAI5tCloudTest', accessKeySecret: 'cloud-access-key-secret' };

function accountNode(emu: Emulator, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'acct',
    type: 'aliyun-iot-account',
    name: 'test account',
    regionId: 'cn-shanghai',
    apiUrl: `https://${emu.host}:${emu.ports.https}/`,
    ca: emu.ca,
    ...extra,
  };
}

function accountOptions(emu: Emulator, secret = account.accessKeySecret): AccountOptions {
  const result = validateAccountOptions({ ...accountNode(emu), ...account, accessKeySecret: secret });
  assert.ok(result.ok);
  return result.options;
}

describe('cloud-api node', () => {
  enableMessageHooks();
  const emulator = nodeRedSuite({
    devices: [device],
    products: [{ productKey: device.productKey, tsl: { ...demoTsl, productKey: device.productKey } }],
    accounts: [account],
    rateLimit: 0,
    openApiLimits: { qps: { QueryDeviceDetail: 5 } },
  });
  const credentials = (secret = account.accessKeySecret) => ({
    ...credentialsFor(device),
    acct: { accessKeyId: account.accessKeyId, accessKeySecret: secret },
  });

  /** A device flow (command -> answer -> reply, subscribe) and a cloud-api node beside it. */
  async function load(api: Record<string, unknown> = {}, secret?: string) {
    const emu = emulator();
    const flow = [
      deviceConfig(emu, device, { rateLimit: '0' }),
      { id: 'cmd', type: 'aliyun-iot-command', device: 'dev', wires: [['answer', 'commands']] },
      // The device's side of a call: answers every command with what it was asked.
      {
        id: 'answer',
        type: 'function',
        func: 'msg.payload = msg.topic === "rrpc" ? "pong:" + msg.payload.toString() : msg.payload; return msg;',
        wires: [['reply']],
      },
      { id: 'reply', type: 'aliyun-iot-reply', device: 'dev' },
      { id: 'commands', type: 'helper' },
      { id: 'sub', type: 'aliyun-iot-subscribe', device: 'dev', topic: 'user/get', wires: [['downlink']] },
      { id: 'downlink', type: 'helper' },
      accountNode(emu),
      { id: 'api', type: 'aliyun-iot-cloud-api', account: 'acct', wires: [['answers']], ...api },
      { id: 'answers', type: 'helper' },
    ];
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const fn = require('@node-red/nodes/core/function/10-function.js') as unknown;
    await helper.load([...NODES, fn], flow, credentials(secret));
    await connected(emu, device);
    return { answers: collect('answers'), commands: collect('commands'), downlink: collect('downlink') };
  }

  type Answer = NodeMessage & { requestId?: string; reply?: Buffer; result?: unknown; redacted?: string[] };

  it('Pub: the message reaches the device flow; the answer carries MessageId and RequestId', async () => {
    const { answers, downlink } = await load({ action: 'Pub' });
    const sent = await inject('api', {
      payload: {
        ProductKey: device.productKey,
        TopicFullName: `/${device.productKey}/${device.deviceName}/user/get`,
        MessageContent: { light: 'on' },
        Qos: 1,
      },
    });
    assert.equal(sent, undefined);
    await eventually(() => downlink.length === 1 && answers.length === 1, 5000, 'the device got it');
    assert.deepEqual(downlink[0]!.payload, { light: 'on' });
    const answer = answers[0] as Answer;
    assert.match(String((answer.payload as { MessageId?: unknown }).MessageId), /^\d+$/);
    assert.equal(answer.requestId, (answer.payload as { RequestId: string }).RequestId);
  });

  it('SetDeviceProperty with Items as an object; InvokeThingService sync answers its result', async () => {
    const { answers, commands } = await load();
    assert.equal(
      await inject('api', {
        action: 'SetDeviceProperty',
        payload: { ProductKey: device.productKey, DeviceName: device.deviceName, Items: { LightSwitch: 1 } },
      }),
      undefined,
    );
    await eventually(() => commands.some((m) => m.topic === 'property/set'), 5000, 'property/set at the device');
    assert.deepEqual(commands.find((m) => m.topic === 'property/set')!.payload, { LightSwitch: 1 });

    assert.equal(
      await inject('api', {
        action: 'InvokeThingService',
        payload: {
          ProductKey: device.productKey,
          DeviceName: device.deviceName,
          Identifier: 'Echo',
          Args: { n: 7 },
        },
      }),
      undefined,
    );
    await eventually(() => answers.length === 2, 5000, 'both answered');
    const invoked = answers.at(-1) as Answer;
    assert.equal(invoked.action, 'InvokeThingService');
    assert.deepEqual(invoked.result, { n: 7 });
  });

  it('RRpc: the device answers, msg.reply holds its bytes', async () => {
    const { answers } = await load({ action: 'RRpc' });
    assert.equal(
      await inject('api', {
        payload: {
          ProductKey: device.productKey,
          DeviceName: device.deviceName,
          RequestBase64Byte: 'ping',
          Timeout: 5000,
        },
      }),
      undefined,
    );
    await eventually(() => answers.length === 1, 5000, 'answered');
    const answer = answers[0] as Answer;
    assert.equal((answer.payload as { RrpcCode: string }).RrpcCode, 'SUCCESS');
    assert.equal(answer.reply?.toString(), 'pong:ping');
  });

  it('QueryDeviceDetail: online, and the DeviceSecret is not in the output', async () => {
    const { answers } = await load({ action: 'QueryDeviceDetail' });
    assert.equal(
      await inject('api', { payload: { ProductKey: device.productKey, DeviceName: device.deviceName } }),
      undefined,
    );
    await eventually(() => answers.length === 1, 5000, 'answered');
    const answer = answers[0] as Answer;
    const data = (answer.payload as { Data: Record<string, unknown> }).Data;
    assert.equal(data.Status, 'ONLINE');
    assert.equal(data.DeviceName, device.deviceName);
    assert.equal(data.DeviceSecret, undefined);
    assert.deepEqual(answer.redacted, ['Data.DeviceSecret']);
  });

  it('UpdateDeviceShadow then GetDeviceShadow: the desired state is there', async () => {
    const { answers } = await load();
    const ids = { ProductKey: device.productKey, DeviceName: device.deviceName };
    const update = { method: 'update', state: { desired: { LightSwitch: 1 } }, version: 1 };
    assert.equal(
      await inject('api', { action: 'UpdateDeviceShadow', payload: { ...ids, ShadowMessage: update } }),
      undefined,
    );
    assert.equal(await inject('api', { action: 'GetDeviceShadow', payload: ids }), undefined);
    await eventually(() => answers.length === 2, 5000, 'both answered');
    const shadow = JSON.parse((answers.at(-1)!.payload as { ShadowMessage: string }).ShadowMessage) as {
      state: { desired: Record<string, unknown> };
    };
    assert.deepEqual(shadow.state.desired, { LightSwitch: 1 });
  });

  it("refusals: the platform's Code and RequestId on done(err); bad input refused before sending", async () => {
    await load({ action: '' });
    const missing = (await inject('api', {
      action: 'QueryDeviceDetail',
      payload: { ProductKey: device.productKey, DeviceName: 'nobody' },
    })) as Error & { code?: unknown; requestId?: string };
    assert.equal(missing.code, 'iot.device.NotExistedDevice');
    assert.match(missing.requestId ?? '', /^[0-9A-F-]{36}$/);
    assert.match(missing.message, /QueryDeviceDetail failed: iot\.device\.NotExistedDevice/);
    // A catch node sees the message: the RequestId is on it too.
    const refused = completions('api')[0]!.msg as NodeMessage & { requestId?: string };
    assert.equal(refused.requestId, missing.requestId);
    const noAction = (await inject('api', { payload: {} })) as Error & { code?: unknown };
    assert.equal(noAction.code, 'API_ACTION_INVALID');
    const reserved = (await inject('api', { action: 'Pub', payload: { Signature: 'x' } })) as Error & {
      code?: unknown;
    };
    assert.equal(reserved.code, 'API_PARAM_RESERVED');
    assert.equal(completions('api').length, 3);
  });

  it('a wrong AccessKey secret: SignatureDoesNotMatch, and the secret appears nowhere', async () => {
    await load({ action: 'QueryDeviceDetail' }, 'a-wrong-access-key-secret');
    const err = (await inject('api', {
      payload: { ProductKey: device.productKey, DeviceName: device.deviceName },
    })) as Error & { code?: unknown };
    assert.equal(err.code, 'SignatureDoesNotMatch');
    assert.ok(!err.message.includes('a-wrong-access-key-secret'));
  });

  it('the account paces each action: 12 calls under a 5/s limit all pass, unpaced ones are throttled', async () => {
    const emu = emulator();
    const ids = { ProductKey: device.productKey, DeviceName: device.deviceName };
    const paced = new OpenApiClient(accountOptions(emu), { qps: () => 4.5 });
    const started = Date.now();
    const results = await Promise.allSettled(Array.from({ length: 12 }, () => paced.call('QueryDeviceDetail', ids)));
    assert.deepEqual(
      results.map((r) => r.status),
      Array.from({ length: 12 }, () => 'fulfilled'),
    );
    // 12 calls at 4.5/s: the last one no sooner than 11 intervals after the first.
    assert.ok(Date.now() - started >= (11 * 1000) / 4.5 - 50, `${Date.now() - started} ms`);
    paced.close();
    // The same burst without the pace meets the platform's throttling.
    const unpaced = new OpenApiClient(accountOptions(emu), { qps: () => 0 });
    const burst = await Promise.allSettled(Array.from({ length: 12 }, () => unpaced.call('QueryDeviceDetail', ids)));
    const throttled = burst.filter(
      (r) => r.status === 'rejected' && (r.reason as AliyunIotError).params.code === 'Throttling.User',
    );
    assert.ok(throttled.length > 0, 'some calls throttled');
    unpaced.close();
  });
});
