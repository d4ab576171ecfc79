// Gateways on the command line and across restarts: `--demo`, `--gateway`, `--gateway-product`, and
// topology kept in `<dataDir>/state.json` (the platform keeps it across disconnects, PLATFORM.md §11).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseCliArgs } from '../../emulator/cli-args';
import { alinkCall, connectSigned, start, subDeviceSign } from '../helpers/emulator';

describe('emulator: gateways on the command line', () => {
  it('--demo adds a gateway and three sub-devices', () => {
    const options = parseCliArgs(['--demo']);
    const gateway = options.devices.find((d) => d.deviceName === 'demo-gateway');
    assert.equal(gateway?.productKey, 'a1DemoGw');
    assert.deepEqual(
      options.products.find((p) => p.productKey === 'a1DemoGw'),
      { productKey: 'a1DemoGw', nodeType: 'gateway' },
    );
    assert.deepEqual(
      options.devices.filter((d) => d.productKey === 'a1DemoSub').map((d) => d.deviceName),
      ['demo-sub-1', 'demo-sub-2', 'demo-sub-3'],
    );
  });

  it('--gateway marks a device, --gateway-product a product, combined with --product', () => {
    const options = parseCliArgs(['--gateway', 'pkG:g1:sec', '--product', 'pkP:ps', '--gateway-product', 'pkP']);
    assert.deepEqual(options.devices, [
      { productKey: 'pkG', deviceName: 'g1', deviceSecret: 'sec', nodeType: 'gateway' },
    ]);
    assert.deepEqual(options.products, [{ productKey: 'pkP', productSecret: 'ps', nodeType: 'gateway' }]);
    assert.throws(() => parseCliArgs(['--gateway', 'pkG']), /--gateway must be pk:dn:secret/);
  });
});

describe('emulator: gateway topology across restarts', () => {
  it('keeps topology and node types in the state file, never a session', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'emu-gw-state-'));
    const gw = { productKey: 'pkGwKeep', deviceName: 'gw', deviceSecret: 'gw-secret' };
    const sub = { productKey: 'pkSubKeep', deviceName: 'sub', deviceSecret: 'sub-secret' };
    const first = await start({ dataDir, log: () => undefined, devices: [{ ...gw, nodeType: 'gateway' }, sub] });
    try {
      const client = await connectSigned(first, gw);
      const clientId = 'pkSubKeep&sub';
      const params = [
        {
          ...sub,
          deviceSecret: undefined,
          clientId,
          timestamp: 1,
          signMethod: 'hmacsha1',
          sign: subDeviceSign('sha1', sub, clientId, 1),
        },
      ];
      assert.equal((await alinkCall(client, '/sys/pkGwKeep/gw/thing/topo/add', { id: '1', params })).code, 200);
      await client.endAsync();
    } finally {
      await first.close();
    }
    const text = readFileSync(join(dataDir, 'state.json'), 'utf8');
    assert.ok(!text.includes('"online"'), 'sessions are not kept');
    // Started again without the devices: both come from the state file, the gateway still a gateway.
    const second = await start({ dataDir, log: () => undefined });
    try {
      const gateway = second.registry.device('pkGwKeep', 'gw');
      assert.ok(gateway && second.registry.isGateway(gateway));
      assert.deepEqual(
        second.gateways.subDevices(gateway).map((d) => d.deviceName),
        ['sub'],
      );
      const client = await connectSigned(second, gw);
      const got = await alinkCall(client, '/sys/pkGwKeep/gw/thing/topo/get', { id: '2', params: {} });
      assert.deepEqual(got.data, [{ productKey: 'pkSubKeep', deviceName: 'sub' }]);
      await client.endAsync();
    } finally {
      await second.close();
    }
  });
});
