import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMqttClientId } from '../../emulator/login';
import { deviceOwnsTopic } from '../../emulator/topics';

describe('emulator topic ownership', () => {
  const owns = (t: string) => deviceOwnsTopic('pk', 'dn', t);
  it('accepts every topic family of PLATFORM.md §6 under the own pk/dn', () => {
    for (const t of [
      '/pk/dn/user/update',
      '/pk/dn/update',
      '/pk/dn/#',
      '/sys/pk/dn/thing/event/property/post',
      '/sys/pk/dn/rrpc/request/+',
      '/sys/pk/dn/#',
      '/ext/ntp/pk/dn/request',
      '/ext/session/pk/dn/combine/login',
      '/shadow/update/pk/dn',
      '/shadow/get/pk/dn',
      '/ota/device/inform/pk/dn',
      '/ota/device/+/pk/dn',
    ]) {
      assert.equal(owns(t), true, t);
    }
  });
  it('refuses other devices, wildcards over identity levels and topics without a leading slash', () => {
    for (const t of [
      '/pk/other/user/x',
      '/other/dn/user/x',
      '/+/dn/user/x',
      '/pk/+/user',
      '/pk/#',
      '#',
      'pk/dn/user/x',
      '/pk/dn',
      '/sys/pk/dn',
      '/shadow/get/pk/dn/extra',
      '/ext/ntp/#',
    ]) {
      assert.equal(owns(t), false, t);
    }
  });
});

describe('emulator mqttClientId parser', () => {
  it('parses clientId|k=v,...| strictly', () => {
    assert.deepEqual(parseMqttClientId('c|a=1,b=2|'), {
      clientId: 'c',
      ext: new Map([
        ['a', '1'],
        ['b', '2'],
      ]),
    });
    assert.deepEqual(parseMqttClientId('bare'), { clientId: 'bare', ext: undefined });
    for (const bad of ['c|a=1', 'c|a=1|x', 'c|a|', 'c|=1|', 'c|a=1,a=2|', 'c|a=1=2|', 'c||'])
      assert.equal(parseMqttClientId(bad), undefined, bad);
  });
});
