// The cloud side's signers: the OpenAPI's RPC signature against fixed vectors and against the
// platform's official RPC client (@alicloud/pop-core, a dev-only oracle) on the same inputs, and
// the AMQP `aksign` login against a vector computed from the rule by hand.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import RPCClient from '@alicloud/pop-core';
import { amqpLogin } from '../../nodes/lib/cloud/amqp-auth';
import {
  canonicalQuery,
  percentEncode,
  rpcSignature,
  rpcTimestamp,
  signRpcCall,
  stringToSign,
} from '../../nodes/lib/cloud/openapi-sign';

describe('OpenAPI RPC signature', () => {
  it('percent-encodes by RFC 3986: only A-Z a-z 0-9 - _ . ~ kept', () => {
    assert.equal(percentEncode('a b*c~d'), 'a%20b%2Ac~d');
    assert.equal(percentEncode("!'()"), '%21%27%28%29');
    assert.equal(percentEncode('/+=&%'), '%2F%2B%3D%26%25');
    assert.equal(percentEncode('温度'), '%E6%B8%A9%E5%BA%A6');
    assert.equal(percentEncode('-_.~AZaz09'), '-_.~AZaz09');
  });

  it('sorts by name, leaves Signature out, and builds the string to sign', () => {
    const params = { b: '2', A: '1', Signature: 'x', a: 'z y' };
    assert.equal(canonicalQuery(params), 'A=1&a=z%20y&b=2');
    assert.equal(stringToSign('GET', params), 'GET&%2F&A%3D1%26a%3Dz%2520y%26b%3D2');
  });

  it('matches the documented example (ECS DescribeRegions, secret testsecret)', () => {
    // The RPC signature document's own example: its parameters, its secret, its signature.
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
    assert.equal(rpcSignature('GET', params, 'testsecret'), 'OLeaidS1JvxuMvnyHOwuJ+uX5qY=');
  });

  it('formats the timestamp as UTC seconds', () => {
    assert.equal(rpcTimestamp(Date.UTC(2026, 11, 3, 6, 4, 51, 999)), '2026-12-03T06:04:51Z');
  });

  it('adds the common parameters, IotInstanceId only when there is one', () => {
    const base = {
      action: 'Pub',
      params: { ProductKey: 'pk' },
      accessKeyId: 'LTAIid',
      accessKeySecret: 'secret',
      regionId: 'cn-shanghai',
      nonce: 'n-1',
      timestampMs: 0,
    };
    const signed = signRpcCall(base);
    assert.equal(signed.Version, '2018-01-20');
    assert.equal(signed.Timestamp, '1970-01-01T00:00:00Z');
    assert.equal(signed.IotInstanceId, undefined);
    assert.equal(signRpcCall({ ...base, iotInstanceId: 'iot-06z00x' }).IotInstanceId, 'iot-06z00x');
    const { Signature, ...rest } = signed;
    assert.equal(Signature, rpcSignature('POST', rest, 'secret'));
  });

  /** What the official client sent: its parameters as the server read them. */
  async function officialRequest(
    method: 'GET' | 'POST',
    action: string,
    params: Record<string, unknown>,
  ): Promise<Record<string, string>> {
    let seen: Record<string, string> | undefined;
    const read = (req: IncomingMessage) =>
      new Promise<string>((resolve) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => resolve(body));
      });
    const server = createServer((req, res) => {
      void read(req).then((body) => {
        const query = new URL(req.url ?? '/', 'http://x').searchParams;
        seen = Object.fromEntries([...query, ...new URLSearchParams(body)]);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ RequestId: 'R', Success: true }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const client = new RPCClient({
        accessKeyId: 'LTAI5tOracleKey',
        accessKeySecret: 'oracle secret*~!',
        endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        apiVersion: '2018-01-20',
      });
      await client.request(action, params, { method });
    } finally {
      server.close();
    }
    assert.ok(seen, 'the official client sent a request');
    return seen;
  }

  for (const method of ['GET', 'POST'] as const) {
    it(`gives the official client's signature on the same inputs (${method})`, async () => {
      const params = {
        ProductKey: 'a1DemoPk',
        TopicFullName: '/a1DemoPk/demo-device/user/get',
        MessageContent: Buffer.from('{"温度":21.5, "note":"a*b (c) ~!"}').toString('base64'),
        Qos: '1',
        Items: '{"LightSwitch":0,"Note":"x y+z/*"}',
      };
      const sent = await officialRequest(method, 'Pub', params);
      const { Signature, ...rest } = sent;
      assert.equal(rpcSignature(method, rest, 'oracle secret*~!'), Signature);
      // And ours, built from the same nonce and time, equals what it sent, parameter for parameter.
      const ours = signRpcCall({
        action: 'Pub',
        params,
        accessKeyId: 'LTAI5tOracleKey',
        accessKeySecret: 'oracle secret*~!',
        regionId: 'cn-shanghai',
        nonce: sent.SignatureNonce!,
        timestampMs: Date.parse(sent.Timestamp!),
        method,
      });
      const { RegionId, ...withoutRegion } = ours;
      assert.equal(RegionId, 'cn-shanghai');
      const { Signature: ourSignature, ...ourRest } = withoutRegion;
      assert.deepEqual(ourRest, rest);
      assert.equal(rpcSignature(method, ourRest, 'oracle secret*~!'), Signature);
      assert.notEqual(ourSignature, undefined);
    });
  }
});

describe('AMQP aksign login', () => {
  it('signs authId and timestamp with one timestamp for both, base64', () => {
    const login = amqpLogin({
      clientId: 'nr-1',
      accessKeyId: 'LTAI5tDemo',
      accessKeySecret: 'amqp-secret',
      consumerGroupId: 'DEFAULT_GROUP',
      iotInstanceId: 'iot-06z00abc',
      timestampMs: 1573489088171,
    });
    assert.equal(
      login.username,
      'nr-1|authMode=aksign,signMethod=hmacsha1,timestamp=1573489088171,authId=LTAI5tDemo,' +
        'iotInstanceId=iot-06z00abc,consumerGroupId=DEFAULT_GROUP|',
    );
    const expected = createHmac('sha1', 'amqp-secret')
      .update('authId=LTAI5tDemo&timestamp=1573489088171')
      .digest('base64');
    assert.equal(login.password, expected);
    assert.equal(login.password, 'IgKw9tL7+eQbpPWrVmZ5+nxvjWI=');
  });

  it('sends an empty iotInstanceId on an old public instance, and other sign methods', () => {
    const login = amqpLogin({
      clientId: 'c',
      accessKeyId: 'id',
      accessKeySecret: 's',
      consumerGroupId: 'g',
      timestampMs: 1,
      signMethod: 'hmacsha256',
    });
    assert.match(login.username, /,iotInstanceId=,/);
    assert.match(login.username, /signMethod=hmacsha256/);
    assert.equal(login.password, createHmac('sha256', 's').update('authId=id&timestamp=1').digest('base64'));
  });
});
