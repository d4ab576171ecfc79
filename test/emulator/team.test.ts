// The emulator run for a team (issue #20): off loopback, the cloud API needs a bearer token, while
// device calls stay open as on the platform; on loopback nothing changes.
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { checkServerIdentity, connect, type PeerCertificate } from 'node:tls';
import type { Emulator } from '../../emulator/index';
import { signAuth } from '../../nodes/lib/index';
import { httpsRaw, reachedAt, start } from '../helpers/emulator';

const device = { productKey: 'pkTeam', deviceName: 'team-dev', deviceSecret: 'team-secret' };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Whether a TLS client trusting only the emulator's CA accepts its certificate for `name`. */
function certificateAccepted(emu: Emulator, host: string, name: string): Promise<boolean> {
  return new Promise((resolve) => {
    // SNI carries host names only (RFC 6066): an address is checked against the certificate instead.
    const options = {
      host,
      port: emu.ports.mqtts,
      ca: emu.ca,
      servername: isIP(name) ? undefined : name,
      checkServerIdentity: (_: string, cert: PeerCertificate) => checkServerIdentity(name, cert),
    };
    const socket = connect(options, () => {
      socket.end();
      resolve(true);
    });
    socket.once('error', () => {
      resolve(false);
    });
  });
}

describe('emulator for a team: the cloud API behind a token', () => {
  let emu: Emulator;
  let local: Emulator;
  const logged: string[] = [];
  before(async () => {
    // Every interface, as `--host 0.0.0.0`; the requests still come from 127.0.0.1: the host
    // setting decides, not the peer.
    emu = await start({ host: '0.0.0.0', devices: [device], log: (line) => logged.push(line) });
    local = reachedAt(emu, '127.0.0.1');
  });
  after(() => emu.close());

  it('generates a token when listening beyond loopback', () => {
    assert.match(emu.apiToken ?? '', /^[0-9a-f]{32}$/);
  });

  it('refuses the API without the token or with a wrong one: 401, one log line with the peer, no data', async () => {
    const attempts = [
      {},
      bearer('0'.repeat(32)),
      bearer(`${emu.apiToken ?? ''}x`),
      { authorization: emu.apiToken ?? '' },
      { authorization: `Basic ${emu.apiToken ?? ''}` },
    ];
    for (const [i, headers] of attempts.entries()) {
      const answer = await httpsRaw(local, 'GET', '/api/devices', { headers });
      assert.equal(answer.status, 401, `attempt ${i}`);
      assert.deepEqual(Object.keys(JSON.parse(answer.text) as object), ['code', 'message']);
      assert.equal((JSON.parse(answer.text) as { code: string }).code, 'UNAUTHORIZED');
      assert.ok(!answer.text.includes('team-dev'), 'no device data in a refusal');
      assert.match(String(answer.headers['www-authenticate']), /^Bearer/);
      assert.equal(logged.length, i + 1, 'one log line per refusal');
      assert.match(logged[i] ?? '', /refused GET \/api\/devices from 127\.0\.0\.1/);
      assert.ok(!(logged[i] ?? '').includes(emu.apiToken ?? '?'), 'the token is never logged');
    }
    const post = await httpsRaw(local, 'POST', `/api/devices/pkTeam/team-dev/disconnect`, { body: {} });
    assert.equal(post.status, 401);
  });

  it('serves the API with the token, the scheme in any case', async () => {
    const answer = await httpsRaw(local, 'GET', '/api/devices', { headers: bearer(emu.apiToken ?? '') });
    assert.equal(answer.status, 200);
    assert.equal((JSON.parse(answer.text) as { deviceName: string }[])[0]?.deviceName, 'team-dev');
    const lower = await httpsRaw(local, 'GET', '/api/devices/pkTeam/team-dev', {
      headers: { authorization: `bearer  ${emu.apiToken ?? ''}` },
    });
    assert.equal(lower.status, 200);
  });

  it("names this machine's addresses in the certificate, so teammates can verify it with the CA", async (t) => {
    const lan = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && !i.internal && i.family === 'IPv4')?.address;
    if (!lan) return t.skip('no non-loopback IPv4 interface here');
    assert.equal(await certificateAccepted(emu, lan, lan), true);
  });

  it('leaves device calls (/auth) open: devices sign them', async () => {
    const form = new URLSearchParams({ ...signAuth(device) }).toString();
    const answer = await httpsRaw(local, 'POST', '/auth/devicename', { body: form });
    const body = JSON.parse(answer.text) as { code: number; data: { resources: { mqtt: { host: string } } } };
    assert.equal(body.code, 200);
    // On every interface the device is told the name it used, never 0.0.0.0.
    assert.equal(body.data.resources.mqtt.host, '127.0.0.1');
  });
});

describe('emulator API access on loopback and by option', () => {
  it('on loopback the API stays open and there is no token', async () => {
    const emu = await start({ devices: [device] });
    try {
      assert.equal(emu.apiToken, undefined);
      assert.equal((await httpsRaw(emu, 'GET', '/api/devices')).status, 200);
    } finally {
      await emu.close();
    }
  });

  it('apiToken protects the API on loopback too, and is what emu.apiToken says', async () => {
    const token = 'a-team-token-of-our-own';
    const emu = await start({ devices: [device], apiToken: token, log: () => undefined });
    try {
      assert.equal(emu.apiToken, token);
      assert.equal((await httpsRaw(emu, 'GET', '/api/devices')).status, 401);
      assert.equal((await httpsRaw(emu, 'GET', '/api/devices', { headers: bearer(token) })).status, 200);
    } finally {
      await emu.close();
    }
  });

  it('openApi: true leaves a non-loopback API open on purpose', async () => {
    const emu = await start({ host: '0.0.0.0', openApi: true, devices: [device] });
    try {
      assert.equal(emu.apiToken, undefined);
      assert.equal((await httpsRaw(reachedAt(emu, '127.0.0.1'), 'GET', '/api/devices')).status, 200);
    } finally {
      await emu.close();
    }
  });

  it('serverNames adds names to the certificate', async () => {
    const emu = await start({ serverNames: ['emulator.team.test'] });
    try {
      assert.equal(await certificateAccepted(emu, '127.0.0.1', 'emulator.team.test'), true);
      assert.equal(await certificateAccepted(emu, '127.0.0.1', 'other.team.test'), false);
    } finally {
      await emu.close();
    }
  });

  it('refuses an unusable token, limits or certificate name with a clear error', async () => {
    await assert.rejects(start({ apiToken: '' }), /must not be empty/);
    await assert.rejects(start({ apiToken: 'two words' }), /visible ASCII/);
    await assert.rejects(start({ guessing: { maxFailures: 0 } }), /guessing\.maxFailures must be a whole number/);
    await assert.rejects(start({ serverNames: ['bad name'] }), /serverNames: "bad name"/);
  });
});
