// The gateway's sub-device protocol, checked against the platform's rules as PLATFORM.md §11
// states them (topics, the signature computed here independently, the per-request limits, codes).
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  batchLoginRequests,
  batchLogoutRequests,
  devicesIn,
  gatewayTopics,
  parseExtError,
  parseTopoChange,
  replyTopic,
  signSubDevice,
  topoAddRequests,
  topoDeleteRequests,
  verdictOf,
} from '../../nodes/lib/gateway/protocol';

const gw = { productKey: 'gwPK', deviceName: 'gw1' };
const subs = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ productKey: 'subPK', deviceName: `meter-${i}`, deviceSecret: `secret-${i}` }));
const ids = () => {
  let n = 0;
  return () => String(++n);
};

/** The platform's check of one signed entry, written from PLATFORM.md §11. */
function verifies(entry: Record<string, unknown>, secret: string, alg: string): boolean {
  const content = `clientId${String(entry.clientId)}deviceName${String(entry.deviceName)}productKey${String(
    entry.productKey,
  )}timestamp${String(entry.timestamp)}`;
  return createHmac(alg, secret).update(content).digest('hex') === String(entry.sign).toLowerCase();
}

describe('gateway protocol', () => {
  it('uses the documented topics', () => {
    assert.equal(gatewayTopics.topoAdd(gw), '/sys/gwPK/gw1/thing/topo/add');
    assert.equal(replyTopic(gatewayTopics.topoGet(gw)), '/sys/gwPK/gw1/thing/topo/get_reply');
    assert.equal(gatewayTopics.batchLogin(gw), '/ext/session/gwPK/gw1/combine/batch_login');
    assert.equal(replyTopic(gatewayTopics.batchLogout(gw)), '/ext/session/gwPK/gw1/combine/batch_logout_reply');
    assert.equal(gatewayTopics.error(gw), '/ext/error/gwPK/gw1');
    assert.equal(gatewayTopics.subRegister(gw), '/sys/gwPK/gw1/thing/sub/register');
    assert.equal(gatewayTopics.topoChange(gw), '/sys/gwPK/gw1/thing/topo/change');
  });

  it('signs a sub-device with its own secret over clientId, deviceName, productKey, timestamp', () => {
    const [sub] = subs(1);
    const signed = signSubDevice(sub!, 'hmacsha256', 1_700_000_000_000);
    assert.equal(signed.clientId, 'subPK&meter-0');
    assert.equal(signed.timestamp, '1700000000000');
    assert.ok(verifies({ ...signed }, 'secret-0', 'sha256'));
    assert.ok(!verifies({ ...signed }, 'secret-1', 'sha256'), 'another secret does not verify');
    assert.ok(verifies({ ...signSubDevice(sub!, 'hmacmd5', 5) }, 'secret-0', 'md5'));
  });

  it('splits topo/add into requests of 30, each entry signed and naming its sign method', () => {
    const list = subs(65);
    const requests = topoAddRequests(list, 'hmacsha1', 42, ids());
    assert.deepEqual(
      requests.map((r) => (r.params as unknown[]).length),
      [30, 30, 5],
    );
    assert.deepEqual(
      requests.map((r) => r.id),
      ['1', '2', '3'],
    );
    const entries = requests.flatMap((r) => r.params as Record<string, unknown>[]);
    entries.forEach((entry, i) => {
      assert.equal(entry.signmethod, 'hmacsha1');
      assert.ok(verifies(entry, `secret-${i}`, 'sha1'), `entry ${i}`);
      assert.equal(entry.deviceSecret, undefined, 'the secret itself never leaves');
    });
    assert.equal(requests[0]!.method, 'thing.topo.add');
    const deletes = topoDeleteRequests(list, ids());
    assert.deepEqual((deletes[2]!.params as unknown[])[0], { productKey: 'subPK', deviceName: 'meter-60' });
  });

  it('logs in 50 at a time with the sign method on top and cleanSession as a string', () => {
    const requests = batchLoginRequests(subs(120), 'hmacsha256', false, 7, ids());
    const lists = requests.map((r) => r.params as { signMethod: string; deviceList: Record<string, unknown>[] });
    assert.deepEqual(
      lists.map((p) => p.deviceList.length),
      [50, 50, 20],
    );
    assert.ok(lists.every((p) => p.signMethod === 'hmacsha256'));
    assert.equal(lists[1]!.deviceList[0]!.cleanSession, 'false');
    assert.ok(verifies(lists[2]!.deviceList[19]!, 'secret-119', 'sha256'));
    const clean = batchLoginRequests(subs(1), 'hmacsha256', true, 7, ids())[0]!.params as {
      deviceList: { cleanSession: string }[];
    };
    assert.equal(clean.deviceList[0]!.cleanSession, 'true');
    const logouts = batchLogoutRequests(subs(51), ids());
    assert.deepEqual(
      logouts.map((r) => (r.params as unknown[]).length),
      [50, 1],
    );
  });

  it('reads the devices a reply lists and the /ext/error payload', () => {
    assert.deepEqual(devicesIn([{ productKey: 'p', deviceName: 'a' }, { bad: 1 }, null]), [
      { productKey: 'p', deviceName: 'a' },
    ]);
    assert.deepEqual(devicesIn({ productKey: 'p', deviceName: 'b' }), [{ productKey: 'p', deviceName: 'b' }]);
    assert.deepEqual(devicesIn('nothing'), []);
    const error = parseExtError(
      '{"id":"1","code":520,"data":{"productKey":"subPK","deviceName":"meter-3"},"message":"x"}',
    );
    assert.deepEqual(error, { code: 520, device: { productKey: 'subPK', deviceName: 'meter-3' }, message: 'x' });
    assert.equal(parseExtError('not json'), undefined);
    assert.equal(parseExtError('{"code":"abc"}'), undefined);
    assert.deepEqual(parseExtError('{"code":"427"}'), { code: 427, device: undefined, message: '' });
    assert.deepEqual(
      parseTopoChange('{"id":"1","params":{"status":8,"subList":[{"productKey":"p","deviceName":"d"}]}}'),
      { status: 8, devices: [{ productKey: 'p', deviceName: 'd' }] },
    );
    assert.equal(parseTopoChange('{"params":{}}'), undefined);
    assert.equal(parseTopoChange('[]'), undefined);
  });

  it('turns codes into what the sub-device does next', () => {
    assert.equal(verdictOf(520), 'relogin');
    for (const code of [427, 527]) assert.equal(verdictOf(code), 'kicked');
    for (const code of [6401, 521, 522, 6204, 6287, 6100]) assert.equal(verdictOf(code), 'stop', String(code));
    for (const code of [429, 428, 500, 460]) assert.equal(verdictOf(code), 'backoff', String(code));
  });
});
