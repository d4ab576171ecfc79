// Which config nodes log in with ext=1: the flows are read once per deploy, not once per config
// node (that made a deploy of N devices cost N x N), and read afresh for the next deploy.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeAPI } from 'node-red';
import { wantsExtRrpc } from '../../nodes/support/custom-rrpc';

function fakeRed(defs: Record<string, unknown>[]): { RED: NodeAPI; reads: () => number } {
  let reads = 0;
  const RED = {
    nodes: {
      eachNode: (cb: (n: Record<string, unknown>) => void) => {
        reads++;
        defs.forEach(cb);
      },
    },
  } as unknown as NodeAPI;
  return { RED, reads: () => reads };
}

describe('wantsExtRrpc', () => {
  it('reads the flows once for every config node of a deploy, afresh for the next one', async () => {
    const defs: Record<string, unknown>[] = [
      { id: 'a', type: 'aliyun-iot-command', device: 'dev1', rrpcTopic: 'user/get' },
      { id: 'b', type: 'aliyun-iot-command', device: 'dev2', rrpcTopic: ' ' },
      { id: 'c', type: 'aliyun-iot-command', device: 'dev3', rrpcTopic: 'user/get', d: true },
      { id: 'd', type: 'aliyun-iot-publish', device: 'dev4', rrpcTopic: 'user/get' },
    ];
    const { RED, reads } = fakeRed(defs);
    const answers = ['dev1', 'dev2', 'dev3', 'dev4', 'dev5'].map((id) => wantsExtRrpc(RED, id));
    assert.deepEqual(answers, [true, false, false, false, false]);
    assert.equal(reads(), 1);
    // The next deploy (a later macrotask) sees the flows as they are then.
    await new Promise((r) => setImmediate(r));
    defs.push({ id: 'e', type: 'aliyun-iot-command', device: 'dev5', rrpcTopic: 'user/x' });
    assert.equal(wantsExtRrpc(RED, 'dev5'), true);
    assert.equal(reads(), 2);
  });
});
