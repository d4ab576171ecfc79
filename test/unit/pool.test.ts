// The pool (one connection per device, shared by config nodes with the same settings, handed over on
// redeploy) and shared subscriptions, over fake mqtt.js clients: no broker, no real waits.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionPool, fingerprintOf } from '../../nodes/lib/pool';
import { SharedSubscription } from '../../nodes/lib/shared-subscription';
import { deviceOptions } from '../helpers/device-options';
import { fakeConnect } from '../helpers/fake-mqtt';

const device = { productKey: 'pkPool', deviceName: 'pool-dev', deviceSecret: 'pool-secret' };

const optionsOf = (settings: Record<string, unknown> = {}) => deviceOptions(device, settings);

/** Resolves after pending promise callbacks have run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function setup(graceMs = 60_000) {
  const fake = fakeConnect();
  const pool = new ConnectionPool(graceMs, { connect: fake.connect });
  return { pool, clients: fake.clients };
}

describe('connection pool (fake clients)', () => {
  it('shares one connection between config nodes with the same settings', async () => {
    const { pool } = setup();
    const a = pool.lease('cfg-a', 'A', optionsOf());
    const b = pool.lease('cfg-b', 'B', optionsOf({ name: 'another name' }));
    assert.equal(a.connection, b.connection, 'the name is not a login setting');
    assert.equal(pool.size, 1);
    await a.release(true);
    assert.equal(pool.size, 1, 'still held by B');
    await b.release(true);
    assert.equal(pool.size, 0);
    assert.equal(a.connection.state, 'closed');
  });

  it('refuses other settings for a device another config node holds, naming it', async () => {
    const { pool } = setup();
    const held = pool.lease('cfg-a', 'Line 1 gateway', optionsOf());
    assert.throws(
      () => pool.lease('cfg-b', 'B', optionsOf({ keepalive: 60 })),
      (err: Error & { code?: string; params?: Record<string, unknown> }) =>
        err.code === 'DEVICE_IN_USE' && err.params?.holder === 'Line 1 gateway',
    );
    // Another device entirely is no conflict.
    const other = pool.lease('cfg-c', 'C', optionsOf({ deviceName: 'other-dev' }));
    assert.notEqual(other.connection, held.connection);
    await pool.closeAll();
  });

  it('on redeploy with changed settings the new connection logs in only after the old one logged out', async () => {
    const { pool, clients } = setup();
    const old = pool.lease('cfg-a', 'A', optionsOf());
    old.connection.connect();
    clients[0]!.accept();
    // The same config node comes back with a new secret: the old connection is retired.
    const next = pool.lease('cfg-a', 'A', optionsOf({ deviceSecret: 'rotated' }));
    assert.notEqual(next.connection, old.connection);
    next.connection.connect();
    assert.equal(clients.length, 1, 'no second login while the first is still logged in');
    await pool.idle();
    await settle();
    assert.equal(clients[0]!.ended, 'graceful', 'the old one sent DISCONNECT');
    assert.equal(clients.length, 2, 'then the new one dialled');
    assert.equal(old.connection.state, 'closed');
    await pool.closeAll();
  });

  it('keeps a released connection for the grace period, so a redeploy with the same settings reuses it', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { pool } = setup(5_000);
    const first = pool.lease('cfg-a', 'A', optionsOf());
    await first.release(false);
    await first.release(false);
    t.mock.timers.tick(4_999);
    const again = pool.lease('cfg-a', 'A', optionsOf());
    assert.equal(again.connection, first.connection, 'reused within the grace period');
    await again.release(false);
    t.mock.timers.tick(5_000);
    await settle();
    assert.equal(pool.size, 0, 'closed once the grace period passed unused');
    assert.equal(first.connection.state, 'closed');
  });

  it('fingerprints every login setting, the secret included, but not the name', () => {
    assert.equal(fingerprintOf(optionsOf()), fingerprintOf(optionsOf({ name: 'x' })));
    assert.notEqual(fingerprintOf(optionsOf()), fingerprintOf(optionsOf({ deviceSecret: 'other' })));
    assert.doesNotMatch(fingerprintOf(optionsOf()), /pool-secret/);
  });
});

describe('shared subscription', () => {
  it('subscribes once for any number of users and unsubscribes when the last one leaves', async () => {
    const { pool, clients } = setup();
    const { connection } = pool.lease('cfg-a', 'A', optionsOf());
    connection.connect();
    clients[0]!.accept();
    const filter = `/${device.productKey}/${device.deviceName}/thing/event/+/post_reply`;
    let idle = 0;
    const shared = new SharedSubscription(
      connection,
      filter,
      () => undefined,
      () => idle++,
    );
    const releaseA = shared.attach();
    const releaseB = shared.attach();
    // The first SUBSCRIBE (at connect) holds only the connection's own lifecycle notices.
    assert.deepEqual(clients[0]!.subscribed.slice(1), [{ [filter]: { qos: 0 } }]);
    releaseA();
    releaseA();
    assert.equal(idle, 0, 'B still uses it');
    releaseB();
    assert.equal(idle, 1);
    assert.equal(connection.router.subscribersOf(filter).length, 0);
    await pool.closeAll();
  });
});
