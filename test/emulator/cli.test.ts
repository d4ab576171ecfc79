// The `aliyun-iot-emulator` command as users run it: the built bin in its own process.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import mqtt from 'mqtt';
import {
  ACCOUNT_ENV,
  CLI_DEFAULT_PORTS,
  DEMO_ACCOUNT,
  DEMO_CONSUMER_GROUP,
  parseCliArgs,
  USAGE,
} from '../../emulator/cli-args';
import type { Emulator } from '../../emulator/index';
import { signAuth, signMqtt, signRegister } from '../../nodes/lib/index';
import { subscribe } from '../helpers/amqp-client';
import { httpsRaw } from '../helpers/emulator';

const root = join(__dirname, '..', '..');
const cli = join(root, 'dist', 'emulator', 'cli.js');
const zeroPorts = [
  ...['--mqtt-port', '0', '--mqtts-port', '0', '--ws-port', '0', '--wss-port', '0', '--https-port', '0'],
  ...['--files-port', '0', '--amqp-port', '0'],
];

interface RunOptions {
  /** Run emulator/cli.ts through tsx: the code as it is, whether or not dist/ was rebuilt. */
  source?: boolean;
  env?: Record<string, string>;
}

function run(
  args: string[],
  options: RunOptions = {},
): {
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  stdout: () => string;
  exited: Promise<number | null>;
} {
  const entry = options.source ? ['--import', 'tsx', join(root, 'emulator', 'cli.ts')] : [cli];
  const env = { ...process.env, ALIYUN_IOT_EMULATOR_API_TOKEN: '', ...options.env };
  const child = spawn(process.execPath, [...entry, ...args], { cwd: root, env });
  let out = '';
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, stdout: () => stdout, exited };
}

/** The CLI's HTTPS port, reached over loopback whatever it listens on, for httpsRaw. */
function httpsTarget(output: string, dataDir: string): Emulator {
  const port = Number(/HTTPS\s+https:\/\/[^:]+:(\d+)/.exec(output)?.[1]);
  assert.ok(port > 0, output);
  const ca = readFileSync(join(dataDir, 'ca.pem'), 'utf8');
  return { host: '127.0.0.1', ports: { https: port }, ca } as unknown as Emulator;
}

const occurrences = (text: string, part: string) => text.split(part).length - 1;

async function waitFor(output: () => string, text: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!output().includes(text)) {
    if (Date.now() > until) throw new Error(`"${text}" not printed; got:\n${output()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('aliyun-iot-emulator CLI', () => {
  it('prints the settings, serves a login with them, and stops on SIGINT within 2 s', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'emu-cli-'));
    const devices = join(dataDir, 'devices.json');
    writeFileSync(
      devices,
      JSON.stringify({ devices: [{ productKey: 'pkFile', deviceName: 'from-file', deviceSecret: 'f' }], products: [] }),
    );
    const { child, output, exited } = run([
      '--device',
      'pkCli:cli-dev:cli-secret-123',
      '--devices',
      devices,
      '--demo',
      '--data-dir',
      dataDir,
      ...zeroPorts,
    ]);
    await waitFor(output, 'Press Ctrl-C');
    const text = output();
    assert.ok(!text.includes('cli-secret-123'), 'the secret is not printed');
    assert.match(text, /pkCli \/ cli-dev/);
    assert.match(text, /pkFile \/ from-file/);
    assert.match(text, /a1DemoPk \/ demo-device/);
    const tcpPort = Number(/mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(text)?.[1]);
    const tlsPort = Number(/mqtts:\/\/127\.0\.0\.1:(\d+)/.exec(text)?.[1]);
    const caPath = /CA certificate\s+(\S+)/.exec(text)?.[1] ?? '';
    assert.equal(caPath, join(dataDir, 'ca.pem'));

    const creds = signMqtt({
      productKey: 'pkCli',
      deviceName: 'cli-dev',
      deviceSecret: 'cli-secret-123',
      securemode: 2,
    });
    const client = await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, {
      ...creds,
      ca: readFileSync(caPath),
      keepalive: 60,
      reconnectPeriod: 0,
    });
    await client.endAsync();
    assert.ok(tcpPort > 0);

    const stoppedAt = Date.now();
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.ok(Date.now() - stoppedAt < 2000, `stopped in ${Date.now() - stoppedAt} ms`);
    assert.match(output(), /Stopped\./);
  });

  it('reuses the CA kept in the data directory', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'emu-cli-'));
    for (let round = 0; round < 2; round++) {
      const { child, output, exited } = run(['--data-dir', dataDir, ...zeroPorts]);
      await waitFor(output, 'Press Ctrl-C');
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    }
    const first = readFileSync(join(dataDir, 'ca.pem'), 'utf8');
    assert.match(first, /BEGIN CERTIFICATE/);
  });

  it('says which port is in use and how to choose another', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    const dataDir = mkdtempSync(join(tmpdir(), 'emu-cli-'));
    const { output, exited } = run(['--data-dir', dataDir, ...zeroPorts, '--mqtt-port', String(port)]);
    assert.equal(await exited, 1);
    blocker.close();
    assert.match(output(), new RegExp(`already in use \\(${port}\\).*--mqtt-port`));
  });

  it('prints usage for --help and refuses unknown flags', async () => {
    const help = run(['--help']);
    assert.equal(await help.exited, 0);
    assert.match(help.output(), /Usage: aliyun-iot-emulator/);
    const bad = run(['--bogus', '1']);
    assert.equal(await bad.exited, 1);
    assert.match(bad.output(), /Unknown option --bogus/);
  });

  it('off loopback prints a generated API token once, the API needs it, and no other secret is printed', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'emu-cli-'));
    const { child, output, stdout, exited } = run(
      [
        '--host',
        '0.0.0.0',
        '--device',
        'pkTeamCli:cli-dev:cli-secret-123',
        '--device',
        'pkTeamCli:cli-pre',
        '--product',
        'pkTeamCli:cli-product-secret',
        '--data-dir',
        dataDir,
        ...zeroPorts,
      ],
      { source: true },
    );
    await waitFor(output, 'Press Ctrl-C');
    const token = /API token\s+([0-9a-f]{32})/.exec(stdout())?.[1] ?? '';
    assert.match(token, /^[0-9a-f]{32}$/, stdout());
    const target = httpsTarget(output(), dataDir);
    assert.equal((await httpsRaw(target, 'GET', '/api/devices')).status, 401);
    const headers = { authorization: `Bearer ${token}` };
    assert.equal((await httpsRaw(target, 'GET', '/api/devices', { headers })).status, 200);
    await waitFor(output, 'refused GET /api/devices from 127.0.0.1');

    // Secrets obtained while it runs: a registered secret and an HTTPS token.
    const product = { productKey: 'pkTeamCli', productSecret: 'cli-product-secret' };
    const registered = await httpsRaw(target, 'POST', '/auth/register/device', {
      body: new URLSearchParams({ ...signRegister({ ...product, deviceName: 'cli-pre' }) }).toString(),
    });
    const deviceSecret = (JSON.parse(registered.text) as { data: { deviceSecret: string } }).data.deviceSecret;
    const authed = await httpsRaw(target, 'POST', '/auth/devicename', {
      body: new URLSearchParams({
        ...signAuth({ productKey: 'pkTeamCli', deviceName: 'cli-dev', deviceSecret: 'cli-secret-123' }),
      }).toString(),
    });
    const iotToken = (JSON.parse(authed.text) as { data: { iotToken: string } }).data.iotToken;
    assert.match(iotToken, /^[0-9a-f]+$/);
    assert.match(output(), /pkTeamCli \/ cli-pre {2}\(not activated/);

    child.kill('SIGINT');
    assert.equal(await exited, 0);
    const text = output();
    assert.equal(occurrences(text, token), 1, 'the generated token is printed once');
    for (const secret of ['cli-secret-123', 'cli-product-secret', deviceSecret, iotToken]) {
      assert.equal(occurrences(text, secret), 0, `a secret in the output:\n${text}`);
    }
    // --data-dir keeps the state beside the CA.
    assert.ok(readFileSync(join(dataDir, 'state.json'), 'utf8').includes(deviceSecret));
  });

  it('refuses an empty --api-token and names --unsafe-open-api; that flag opens the API with a warning', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'emu-cli-'));
    const refused = run(['--host', '0.0.0.0', '--api-token', '', '--data-dir', dataDir, ...zeroPorts], {
      source: true,
    });
    assert.equal(await refused.exited, 1);
    assert.match(refused.output(), /--api-token needs a token.*--unsafe-open-api/);
    assert.doesNotMatch(refused.output(), /listening/);

    const open = run(['--host', '0.0.0.0', '--unsafe-open-api', '--data-dir', dataDir, ...zeroPorts], {
      source: true,
    });
    await waitFor(open.output, 'drop --unsafe-open-api');
    assert.match(open.output(), /WARNING: --unsafe-open-api/);
    assert.doesNotMatch(open.output(), /API token/);
    assert.equal((await httpsRaw(httpsTarget(open.output(), dataDir), 'GET', '/api/devices')).status, 200);
    open.child.kill('SIGTERM');
    assert.equal(await open.exited, 0);

    const help = run(['--help'], { source: true });
    assert.equal(await help.exited, 0);
    assert.match(help.output(), /--unsafe-open-api\s+DANGER/);
  });

  it('a token given with --api-token or in the environment is required and never echoed', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'emu-cli-'));
    for (const given of [
      { args: ['--api-token', 'flag-token-5e1b9c'], token: 'flag-token-5e1b9c' },
      { args: [], env: { ALIYUN_IOT_EMULATOR_API_TOKEN: 'env-token-77aa10' }, token: 'env-token-77aa10' },
    ]) {
      const { child, output, exited } = run(['--host', '0.0.0.0', ...given.args, '--data-dir', dataDir, ...zeroPorts], {
        source: true,
        env: given.env ?? {},
      });
      await waitFor(output, 'Press Ctrl-C');
      const target = httpsTarget(output(), dataDir);
      assert.equal((await httpsRaw(target, 'GET', '/api/devices')).status, 401);
      const headers = { authorization: `Bearer ${given.token}` };
      assert.equal((await httpsRaw(target, 'GET', '/api/devices', { headers })).status, 200);
      assert.match(output(), /Cloud API\s+needs the header/);
      child.kill('SIGINT');
      assert.equal(await exited, 0);
      assert.equal(occurrences(output(), given.token), 0, output());
    }
  });

  it('serves the AMQP subscription with the AccessKeys, groups and instance ID given, never printing a secret', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'emu-cli-'));
    const accounts = [
      { accessKeyId: 'LTAIcliFlag', accessKeySecret: 'cli-flag-ak-secret' },
      { accessKeyId: 'LTAIcliEnv', accessKeySecret: 'cli-env-ak-secret' },
    ];
    const args = ['--account', 'LTAIcliFlag:cli-flag-ak-secret', '--consumer-group', 'CLI_GROUP'];
    const { child, output, exited } = run(
      [...args, '--instance-id', 'iot-06z00cli', '--data-dir', dataDir, ...zeroPorts],
      { source: true, env: { [ACCOUNT_ENV]: 'LTAIcliEnv:cli-env-ak-secret' } },
    );
    await waitFor(output, 'Press Ctrl-C');
    const port = Number(/AMQP\s+amqps:\/\/127\.0\.0\.1:(\d+)/.exec(output())?.[1]);
    assert.ok(port > 0, output());
    assert.match(output(), /AccessKeys: LTAIcliEnv, LTAIcliFlag/);
    assert.match(output(), /consumer groups: CLI_GROUP/);
    assert.match(output(), /instance ID: iot-06z00cli/);
    const target = { host: '127.0.0.1', ports: { amqp: port }, ca: readFileSync(join(dataDir, 'ca.pem'), 'utf8') };
    for (const account of accounts) {
      const sub = subscribe(target as Emulator, {
        clientId: `cli-${account.accessKeyId}`,
        consumerGroupId: 'CLI_GROUP',
        iotInstanceId: 'iot-06z00cli',
        ...account,
      });
      await sub.opened;
      await sub.close();
    }
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    for (const { accessKeySecret } of accounts) assert.equal(occurrences(output(), accessKeySecret), 0, output());
  });
});

describe('emulator CLI: the cloud side flags', () => {
  it('has an AMQP port flag and default, and lines in USAGE', () => {
    assert.equal(CLI_DEFAULT_PORTS.amqp, 15671);
    assert.equal(parseCliArgs(['--amqp-port', '5671']).ports.amqp, 5671);
    assert.equal(parseCliArgs([]).ports.amqp, CLI_DEFAULT_PORTS.amqp);
    assert.match(USAGE, new RegExp(`--amqp-port ${CLI_DEFAULT_PORTS.amqp} +AMQP 1\\.0 over TLS`));
    for (const flag of ['--account id:secret', '--consumer-group id', '--instance-id id'])
      assert.ok(USAGE.includes(flag));
  });

  it('reads AccessKeys from --account (repeatable, the last wins) and the environment, groups and the instance ID', () => {
    const parsed = parseCliArgs(
      ['--account', 'LTAIa:s:with:colons', '--account', 'LTAIb:b1', '--account', 'LTAIb:b2', '--consumer-group', 'G1'],
      { [ACCOUNT_ENV]: 'LTAIenv:env-secret' },
    );
    assert.deepEqual(parsed.accounts, [
      { accessKeyId: 'LTAIenv', accessKeySecret: 'env-secret' },
      { accessKeyId: 'LTAIa', accessKeySecret: 's:with:colons' },
      { accessKeyId: 'LTAIb', accessKeySecret: 'b2' },
    ]);
    assert.deepEqual(parsed.consumerGroups, [{ id: 'G1' }]);
    assert.equal(parsed.iotInstanceId, undefined);
    assert.equal(parseCliArgs(['--instance-id', 'iot-06z00x']).iotInstanceId, 'iot-06z00x');
    // A malformed value is refused without being echoed: it would hold the secret.
    assert.throws(
      () => parseCliArgs(['--account', 'only-an-id-no-secret']),
      (err: Error) => {
        assert.match(err.message, /--account must be AccessKeyId:AccessKeySecret/);
        assert.ok(!err.message.includes('only-an-id-no-secret'));
        return true;
      },
    );
  });

  it('--demo adds the demo AccessKey and consumer group', () => {
    const parsed = parseCliArgs(['--demo', '--consumer-group', DEMO_CONSUMER_GROUP.id]);
    assert.deepEqual(parsed.accounts, [DEMO_ACCOUNT]);
    assert.deepEqual(parsed.consumerGroups, [DEMO_CONSUMER_GROUP]);
    assert.deepEqual(DEMO_ACCOUNT, { accessKeyId: 'LTAI5tDemoAccessKeyId', accessKeySecret: 'demo-access-key-secret' });
    assert.deepEqual(DEMO_CONSUMER_GROUP, { id: 'DEFAULT_GROUP' });
  });
});
