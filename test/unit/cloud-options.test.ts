// The account config node's settings and the cloud-api node's parameters, without a network.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateAccountOptions } from '../../nodes/lib/cloud/account-options';
import { actionParams, decodedAnswer, isActionName, withoutSecrets } from '../../nodes/lib/cloud/openapi-params';

const valid = { accessKeyId: 'LTAI5tKey', accessKeySecret: 'the-access-key-secret' };

describe('validateAccountOptions', () => {
  it('derives the OpenAPI and AMQP hosts of a new instance, an old one and a custom endpoint', () => {
    const instance = validateAccountOptions({ ...valid, regionId: 'cn-beijing', iotInstanceId: 'iot-06z00abc' });
    assert.ok(instance.ok);
    assert.deepEqual(instance.options.api, { host: 'iot.cn-beijing.aliyuncs.com', port: 443 });
    assert.deepEqual(instance.options.amqp, { host: 'iot-06z00abc.amqp.iothub.aliyuncs.com', port: 5671 });
    assert.equal(instance.options.tls.rejectUnauthorized, true);

    const old = validateAccountOptions({ ...valid, accountId: '1234567890' });
    assert.ok(old.ok);
    assert.equal(old.options.regionId, 'cn-shanghai');
    assert.deepEqual(old.options.amqp, { host: '1234567890.iot-amqp.cn-shanghai.aliyuncs.com', port: 5671 });

    const custom = validateAccountOptions({
      ...valid,
      apiUrl: 'https://127.0.0.1:18444/',
      amqpHost: '127.0.0.1',
      amqpPort: '15671',
      ca: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----',
    });
    assert.ok(custom.ok);
    assert.deepEqual(custom.options.api, { host: '127.0.0.1', port: 18444 });
    assert.deepEqual(custom.options.amqp, { host: '127.0.0.1', port: 15671 });
    assert.equal(custom.options.tls.ca.length, 1, 'a CA the user gave is the only one trusted');

    const nowhere = validateAccountOptions(valid);
    assert.ok(nowhere.ok);
    assert.equal(nowhere.options.amqp, undefined);
  });

  it('reports each problem with a code and never quotes the secret', () => {
    const result = validateAccountOptions({
      accessKeyId: 'LTAI key!',
      accessKeySecret: '',
      regionId: 'Shanghai',
      iotInstanceId: 'iot 06',
      accountId: 'abc',
      apiUrl: 'http://x/path?q=1',
      amqpHost: 'a host',
      amqpPort: '70000',
      ca: 'not pem',
    });
    assert.equal(result.ok, false);
    assert.deepEqual(result.errors.map((e) => e.code).sort(), [
      'ACCESS_KEY_ID_INVALID',
      'ACCESS_KEY_SECRET_MISSING',
      'ACCOUNT_ID_INVALID',
      'API_URL_INVALID',
      'CA_INVALID',
      'HOST_INVALID',
      'INSTANCE_ID_INVALID',
      'PORT_NOT_INTEGER',
      'REGION_INVALID',
    ]);
    const secret = validateAccountOptions({ accessKeyId: '', accessKeySecret: 'do-not-show-me' });
    assert.ok(!JSON.stringify(secret.errors).includes('do-not-show-me'));
    for (const url of ['https://u:p@x/', 'https://x/#h', 'ftp://x/', 'https://x/a'])
      assert.equal(validateAccountOptions({ ...valid, apiUrl: url }).ok, false, url);
  });

  it('turns TLS verification off only when told', () => {
    for (const value of [false, 'false']) {
      const r = validateAccountOptions({ ...valid, rejectUnauthorized: value });
      assert.ok(r.ok);
      assert.equal(r.options.tls.rejectUnauthorized, false);
    }
    for (const value of [undefined, '', true, 'true', 0]) {
      const r = validateAccountOptions({ ...valid, rejectUnauthorized: value });
      assert.ok(r.ok);
      assert.equal(r.options.tls.rejectUnauthorized, true, String(value));
    }
  });
});

describe('OpenAPI parameters from msg.payload', () => {
  it('base64 for MessageContent and RequestBase64Byte, JSON strings for Items, Args and ShadowMessage', () => {
    const result = actionParams({
      ProductKey: 'pk',
      MessageContent: { t: 21.5 },
      RequestBase64Byte: Buffer.from([0, 255]),
      Items: { LightSwitch: 0 },
      Args: '{"already":"text"}',
      ShadowMessage: { method: 'update', state: { desired: { a: 1 } }, version: 2 },
      Qos: 1,
      Retained: false,
      Skip: null,
    });
    assert.ok('params' in result);
    assert.deepEqual(result.params, {
      ProductKey: 'pk',
      MessageContent: Buffer.from('{"t":21.5}').toString('base64'),
      RequestBase64Byte: 'AP8=',
      Items: '{"LightSwitch":0}',
      Args: '{"already":"text"}',
      ShadowMessage: '{"method":"update","state":{"desired":{"a":1}},"version":2}',
      Qos: '1',
      Retained: 'false',
    });
  });

  it('numbers lists as the RPC style does (Name.1, Name.2.Field)', () => {
    const result = actionParams({ DeviceName: ['a', 'b'], Tag: [{ TagKey: 'k', TagValue: 'v' }] });
    assert.ok('params' in result);
    assert.deepEqual(result.params, {
      'DeviceName.1': 'a',
      'DeviceName.2': 'b',
      'Tag.1.TagKey': 'k',
      'Tag.1.TagValue': 'v',
    });
  });

  it('refuses what cannot be sent, and the common parameters the signer owns', () => {
    const refused = (payload: unknown) => {
      const r = actionParams(payload);
      return 'problem' in r ? r.problem.code : 'accepted';
    };
    assert.equal(refused('text'), 'API_PARAMS_INVALID');
    assert.equal(refused([1]), 'API_PARAMS_INVALID');
    assert.equal(refused(Buffer.from('x')), 'API_PARAMS_INVALID');
    assert.equal(refused({ Signature: 'x' }), 'API_PARAM_RESERVED');
    assert.equal(refused({ AccessKeyId: 'x' }), 'API_PARAM_RESERVED');
    assert.equal(refused({ 'bad name': 1 }), 'API_PARAM_INVALID');
    assert.equal(refused({ Items: 5 }), 'API_PARAM_INVALID');
    assert.equal(refused({ Qos: Number.NaN }), 'API_PARAM_INVALID');
    assert.equal(refused({ Fn: () => 1 }), 'API_PARAM_INVALID');
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    assert.equal(refused({ Items: circular }), 'API_PARAM_INVALID');
    assert.equal(refused({ Deep: circular }), 'API_PARAM_INVALID');
    assert.equal(refused(undefined), 'accepted');
    // A payload whose fields happen to be named code and params is still parameters.
    assert.equal(refused({ code: 'x', params: 'y' }), 'accepted');
  });

  it('knows an action name when it sees one', () => {
    assert.ok(isActionName('Pub'));
    assert.ok(isActionName('QueryDeviceByStatus'));
    for (const bad of ['', 'pub', 'Pub&x', 'A'.repeat(101), 5, undefined]) assert.equal(isActionName(bad), false);
  });

  it("decodes RRpc's reply bytes and a synchronous service's result", () => {
    assert.deepEqual(decodedAnswer('RRpc', { PayloadBase64Byte: 'b2s=' }).reply, Buffer.from('ok'));
    assert.deepEqual(decodedAnswer('InvokeThingService', { Data: { Result: '{"echo":1}' } }).result, { echo: 1 });
    assert.equal(decodedAnswer('InvokeThingService', { Data: { Result: 'plain' } }).result, 'plain');
    assert.deepEqual(decodedAnswer('Pub', { MessageId: 1 }), {});
  });
});

describe('secrets in OpenAPI answers', () => {
  it('removes DeviceSecret and ProductSecret wherever they are, and says where', () => {
    const { value, removed } = withoutSecrets({
      RequestId: 'R',
      Data: { DeviceName: 'd', DeviceSecret: 's1', List: [{ ProductSecret: 's2', Keep: 1 }] },
    });
    assert.deepEqual(value, { RequestId: 'R', Data: { DeviceName: 'd', List: [{ Keep: 1 }] } });
    assert.deepEqual(removed, ['Data.DeviceSecret', 'Data.List[0].ProductSecret']);
  });
});
