// Every flow in examples/ runs against the emulator and does what its comment says.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { Emulator } from '../../emulator/index';
import { DEMO_DEVICE } from '../../emulator/cli-args';
import { eventually } from '../helpers/emulator';
import { collect, helper, NODES, nodeRedSuite } from '../helpers/flows';

// Core nodes the examples use, loaded from the node-red devDependency.
const core = ['common/20-inject.js', 'common/21-debug.js', 'common/90-comment.js', 'function/10-function.js'].map(
  (f) =>
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require(join(require.resolve('@node-red/nodes/package.json'), '..', 'core', f)) as unknown,
);

type FlowNode = Record<string, unknown> & { id: string; type: string; credentials?: Record<string, string> };

/** The example as a user imports it, pointed at this test's emulator port; credentials split out. */
function loadExample(
  name: string,
  emu: Emulator,
): { flow: FlowNode[]; credentials: Record<string, Record<string, string>> } {
  const flow = JSON.parse(readFileSync(join(__dirname, '..', '..', 'examples', `${name}.json`), 'utf8')) as FlowNode[];
  const credentials: Record<string, Record<string, string>> = {};
  for (const node of flow) {
    if (node.type === 'aliyun-iot-device') {
      assert.equal(node.port, '11883', 'examples use the emulator CLI default port');
      node.port = String(emu.ports.mqtt);
    }
    if (node.credentials) credentials[node.id] = node.credentials;
    delete node.credentials;
  }
  return { flow, credentials };
}

describe('examples/', () => {
  const suite = nodeRedSuite({ devices: [DEMO_DEVICE] });
  let emu: Emulator;
  before(() => {
    emu = suite();
  });
  const demo = () => emu.registry.device(DEMO_DEVICE.productKey, DEMO_DEVICE.deviceName)!;

  it('publish: a reading arrives on user/update and the publish completes', async () => {
    const { flow, credentials } = loadExample('aliyun-iot-publish', emu);
    await helper.load([...NODES, ...core], flow, credentials);
    const results = collect('ex-pub-debug');
    await eventually(() => demo().uplink.some((m) => m.topic === '/a1DemoPk/demo-device/user/update'), 8000, 'uplink');
    assert.deepEqual(JSON.parse(demo().uplink.at(-1)!.payload), { temperature: 21.5, humidity: 40 });
    await eventually(() => results.length > 0, 5000, 'complete node fired');
  });

  it('subscribe: a cloud downlink on user/get reaches the debug node', async () => {
    const { flow, credentials } = loadExample('aliyun-iot-subscribe', emu);
    await helper.load([...NODES, ...core], flow, credentials);
    const got = collect('ex-sub-debug');
    await eventually(() => demo().subscriptions.has('/a1DemoPk/demo-device/user/get'), 8000, 'subscribed');
    await emu.platform.publishDown('/a1DemoPk/demo-device/user/get', JSON.stringify({ light: 'on' }), 1);
    await eventually(() => got.length === 1, 5000, 'downlink');
    assert.deepEqual(got[0]!.payload, { light: 'on' });
  });

  it('connect: state changes and the status action come out', async () => {
    const { flow, credentials } = loadExample('aliyun-iot-connect', emu);
    await helper.load([...NODES, ...core], flow, credentials);
    const got = collect('ex-conn-debug');
    // The state change and the status injected 2 s after deploy.
    await eventually(() => got.filter((m) => m.topic === 'connected').length >= 2, 8000, 'connected, then status');
    assert.equal((got.at(-1)!.payload as { clientId: string }).clientId, 'a1DemoPk.demo-device');
  });

  it('device: a property post gets the platform post_reply and the value is kept', async () => {
    const { flow, credentials } = loadExample('aliyun-iot-device', emu);
    await helper.load([...NODES, ...core], flow, credentials);
    const got = collect('ex-dev-debug');
    await eventually(() => got.length === 1, 8000, 'post_reply');
    assert.equal((got[0]!.payload as { code: number }).code, 200);
    assert.equal(demo().properties.LightSwitch, 1);
  });
});
