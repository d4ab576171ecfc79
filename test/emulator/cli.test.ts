// The `aliyun-iot-emulator` command as users run it: the built bin in its own process.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import mqtt from 'mqtt';
import { signMqtt } from '../../nodes/lib/index';

const cli = join(__dirname, '..', '..', 'dist', 'emulator', 'cli.js');
const zeroPorts = ['--mqtt-port', '0', '--mqtts-port', '0', '--ws-port', '0', '--wss-port', '0', '--https-port', '0'];

function run(args: string[]): {
  child: ChildProcessWithoutNullStreams;
  output: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, [cli, ...args]);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

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
});
