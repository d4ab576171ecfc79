// Connection states as node status: colours, codes, and a sub-device whose gateway is offline.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeAPI } from 'node-red';
import type { ConnectionStatus } from '../../nodes/lib/connection';
import { nodeStatusOf } from '../../nodes/support/status';

const catalogue: Record<string, string> = {
  'node-red:common.status.connected': 'connected',
  'node-red:common.status.disconnected': 'disconnected',
  '@iotflow/node-red-aliyun-iot/aliyun-iot-device:status.gateway-offline': 'gateway offline',
  '@iotflow/node-red-aliyun-iot/aliyun-iot-device:status.auth-failed': 'auth failed',
  '@iotflow/node-red-aliyun-iot/aliyun-iot-device:status.platform-code.6289': 'registered before',
};
const RED = { _: (key: string) => catalogue[key] ?? key } as unknown as NodeAPI;
const status = (extra: Partial<ConnectionStatus>): ConnectionStatus => ({
  state: 'connected',
  attempt: 0,
  clientId: 'c',
  endpoint: 'e',
  rateLimit: 30,
  queued: 0,
  resent: 0,
  restored: 0,
  ...extra,
});

describe('node status', () => {
  it('shows a sub-device whose gateway is offline as such, other drops as disconnected', () => {
    assert.deepEqual(nodeStatusOf(RED, status({ state: 'disconnected', reason: 'gateway-offline' })), {
      fill: 'red',
      shape: 'ring',
      text: 'gateway offline',
    });
    assert.equal(
      nodeStatusOf(RED, status({ state: 'disconnected', code: 'ECONNREFUSED' })).text,
      'disconnected (ECONNREFUSED)',
    );
    assert.equal(nodeStatusOf(RED, status({ state: 'auth-failed', code: 6287 })).text, 'auth failed (6287)');
    assert.equal(
      nodeStatusOf(RED, status({ state: 'auth-failed', code: 6289 })).text,
      'auth failed (6289: registered before)',
      'a platform code with a hint says what it means',
    );
    assert.deepEqual(nodeStatusOf(RED, status({})), { fill: 'green', shape: 'dot', text: 'connected' });
  });
});
