// The shadow node against the emulator's shadow: the desired state set while the flow was offline
// arrives after the connect, the cloud's push while online, reported updates with the version kept
// right (a conflict recovers), clearing desired after the flow reported, and refused inputs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventually, https } from '../helpers/emulator';
import { collect, credentialsFor, deviceConfig, helper, inject, NODES, nodeRedSuite } from '../helpers/flows';

const device = { productKey: 'pkShadow', deviceName: 'lamp', deviceSecret: 'lamp-secret' };
const PATH = `/api/devices/${device.productKey}/${device.deviceName}/shadow`;

interface Document {
  state: { reported?: Record<string, unknown>; desired?: Record<string, unknown> };
  version: number;
}

describe('shadow node', () => {
  const emulator = nodeRedSuite({ devices: [device], rateLimit: 0 });
  const shadow = async () => (await https(emulator(), 'GET', PATH)).body as unknown as Document;
  const setDesired = (desired: Record<string, unknown>, version?: number) =>
    https(emulator(), 'POST', PATH, version === undefined ? { desired } : { desired, version });

  async function load(extra: Record<string, unknown> = {}) {
    const flow = [
      deviceConfig(emulator(), device),
      { id: 'shadow', type: 'aliyun-iot-shadow', device: 'dev', wires: [['out']], ...extra },
      { id: 'out', type: 'helper' },
    ];
    await helper.load(NODES, flow, credentialsFor(device));
    // The desired state comes after the connect and a get: collecting from here misses nothing.
    return collect('out');
  }

  it('a desired state set while the flow was offline comes out after the connect; a push while online too', async () => {
    assert.equal((await setDesired({ LightSwitch: 1 })).status, 200);
    const out = await load();
    await eventually(() => out.some((m) => m.topic === 'desired'), 10_000, 'desired after the connect');
    const first = out.find((m) => m.topic === 'desired') as unknown as { payload: unknown; version: number };
    assert.deepEqual(first.payload, { LightSwitch: 1 });
    assert.equal(typeof first.version, 'number');
    await setDesired({ Mode: 2 });
    await eventually(() => out.filter((m) => m.topic === 'desired').length === 2, 10_000, 'the push');
    assert.deepEqual(out.filter((m) => m.topic === 'desired')[1]!.payload, { LightSwitch: 1, Mode: 2 });
  });

  it('reports, reads back, deletes keys, and clears desired once the flow reported (auto-clear)', async () => {
    await setDesired({ LightSwitch: 0 });
    const out = await load({ autoClear: true });
    await eventually(() => out.some((m) => m.topic === 'desired'), 10_000, 'desired');
    assert.equal(
      await inject('shadow', { action: 'update', payload: { LightSwitch: 0, Mode: null, Label: 'hall' } }),
      undefined,
    );
    const doc = await shadow();
    assert.equal(doc.state.reported?.LightSwitch, 0);
    assert.ok(!('Mode' in (doc.state.reported ?? {})), 'null deleted the key');
    assert.deepEqual(doc.state.desired ?? {}, {}, 'desired cleared after the report');
    assert.equal(await inject('shadow', { action: 'delete', payload: ['Label'] }), undefined);
    assert.equal(await inject('shadow', { action: 'get' }), undefined);
    await eventually(() => out.some((m) => m.topic === 'shadow'), 5000, 'the get answer');
    const got = out.filter((m) => m.topic === 'shadow').at(-1)!.payload as {
      reported: Record<string, unknown>;
      version: number;
    };
    assert.deepEqual(got.reported, { LightSwitch: 0 });
    assert.equal(got.version, (await shadow()).version);
  });

  // The 403 path itself is unit-tested (test/unit/shadow.test.ts): here the cloud's push carries the
  // version it moved to, and the next report goes above it.
  it('after the cloud moved the version, the next report goes above it', async () => {
    await load();
    assert.equal(await inject('shadow', { payload: { LightSwitch: 1 } }), undefined);
    const before = (await shadow()).version;
    assert.equal((await setDesired({ Mode: 1 }, before + 40)).status, 200);
    assert.equal(await inject('shadow', { payload: { LightSwitch: 0 } }), undefined);
    const after = await shadow();
    assert.equal(after.state.reported?.LightSwitch, 0);
    assert.ok(after.version > before + 40, `${after.version} > ${before + 40}`);
  });

  it('refuses bad input with a code, and says nothing else', async () => {
    await load();
    for (const action of ['patch', 42, null]) {
      assert.equal((await inject('shadow', { action, payload: {} }))?.code, 'SHADOW_ACTION_INVALID');
    }
    for (const payload of ['on', [1], null, 5]) {
      assert.equal((await inject('shadow', { action: 'update', payload }))?.code, 'SHADOW_PAYLOAD_INVALID');
    }
    assert.equal((await inject('shadow', { action: 'delete', payload: [1] }))?.code, 'SHADOW_PAYLOAD_INVALID');
  });
});
