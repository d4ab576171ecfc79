// settings.js `aliyunIotDeviceLoginRate`: every direct device login of the process waits for one
// pace, through real Node-RED and the emulator; a value that is not a rate is warned about and the
// default used.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { DEFAULT_LOGIN_RATE, sharedLoginPace } from '../../nodes/lib/login-pace';
import { eventually } from '../helpers/emulator';
import { deviceConfig, helper, NODES, nodeRedSuite } from '../helpers/flows';

const devices = Array.from({ length: 8 }, (_, i) => ({
  productKey: 'pkPace',
  deviceName: `paced-${i}`,
  deviceSecret: `paced-${i}-secret`,
}));

describe('the login pace from settings.js', () => {
  const emulator = nodeRedSuite({ devices, rateLimit: 0 });
  afterEach(() => helper.settings({}));

  it('aliyunIotDeviceLoginRate: 5 spreads 8 logins over at least 1.4 s, and all get online', async () => {
    const emu = emulator();
    helper.settings({ aliyunIotDeviceLoginRate: 5 });
    const flow = devices.flatMap((d, i) => [
      { ...deviceConfig(emu, d), id: `dev${i}`, rateLimit: '0' },
      { id: `pub${i}`, type: 'aliyun-iot-publish', device: `dev${i}`, topic: 'user/update' },
    ]);
    const credentials = Object.fromEntries(devices.map((d, i) => [`dev${i}`, { deviceSecret: d.deviceSecret }]));
    const t0 = Date.now();
    await helper.load(NODES, flow, credentials);
    assert.equal(sharedLoginPace.ratePerSecond, 5);
    const online = () => devices.filter((d) => emu.registry.device(d.productKey, d.deviceName)?.online).length;
    // One at once (a tenth of a second's worth, at least one), then one every 200 ms.
    const allowed = 2 + Math.floor((Date.now() - t0) / 200);
    assert.ok(online() <= allowed, `${online()} online right after the deploy`);
    await eventually(() => online() === devices.length, 15_000, 'every device online');
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 1400 * 0.95, `8 logins at 5/s took ${elapsed} ms`);
  });

  it('a value that is not a rate is warned about (localized) and the default kept', async () => {
    const emu = emulator();
    helper.settings({ aliyunIotDeviceLoginRate: 'fast' });
    await helper.load(NODES, [deviceConfig(emu, devices[0]!)], { dev: { deviceSecret: devices[0]!.deviceSecret } });
    assert.equal(sharedLoginPace.ratePerSecond, DEFAULT_LOGIN_RATE);
    const warnings = helper
      .log()
      .args.map((a) => a[0] as { level?: number; msg?: unknown })
      .filter((m) => String(m.msg).includes('aliyunIotDeviceLoginRate'));
    assert.equal(warnings.length, 1, 'one warning');
    assert.match(String(warnings[0]!.msg), /"fast"/);
  });
});
