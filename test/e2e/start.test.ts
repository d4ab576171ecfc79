// `npm start`: the emulator and a real Node-RED with the demo flow, stopped by Ctrl-C.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as nr from '../../scripts/node-red-process';
import { eventually } from '../helpers/emulator';

function run(args: string[]) {
  const child = spawn(process.execPath, [join(nr.root, 'scripts', 'start.js'), ...args]);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function ports(n: number): Promise<number[]> {
  return Promise.all(Array.from({ length: n }, () => nr.freePort()));
}

describe('npm start', () => {
  it('runs the demo flow on the emulator and stops both on Ctrl-C', async () => {
    const [ui, mqtt, mqtts, ws, wss, https, files, amqp] = await ports(8);
    const userDir = mkdtempSync(join(tmpdir(), 'aliyun-iot-start-'));
    const flags = [
      '--port',
      ui,
      '--mqtt-port',
      mqtt,
      '--mqtts-port',
      mqtts,
      '--ws-port',
      ws,
      '--wss-port',
      wss,
      '--https-port',
      https,
      '--files-port',
      files,
      '--amqp-port',
      amqp,
    ].map(String);
    const { child, output, exited } = run([...flags, '--user-dir', userDir]);
    await eventually(() => output().includes('Press Ctrl-C'), 60_000, 'started');
    assert.match(output(), new RegExp(`Node-RED editor: +http://127\\.0\\.0\\.1:${ui}/`));
    assert.match(output(), new RegExp(`tls 127\\.0\\.0\\.1:${mqtts}`));
    assert.match(output(), new RegExp(`downloads https://127\\.0\\.0\\.1:${files}`));
    assert.match(output(), new RegExp(`amqps://127\\.0\\.0\\.1:${amqp}, consumer group DEFAULT_GROUP`));
    assert.match(output(), /Demo account: +AccessKey ID LTAI5tDemoAccessKeyId/);
    const flows = (await nr.request('GET', `http://127.0.0.1:${ui}/flows`)).body as { type: string; label?: string }[];
    assert.ok(flows.some((n) => n.type === 'tab' && n.label === 'Aliyun IoT demo'));
    for (const type of [
      'aliyun-iot-device',
      'aliyun-iot-publish',
      'aliyun-iot-subscribe',
      'aliyun-iot-connect',
      // The cloud side, as against the real platform.
      'aliyun-iot-account',
      'aliyun-iot-cloud-api',
      'aliyun-iot-amqp-in',
      'inject',
      'debug',
    ]) {
      assert.ok(
        flows.some((n) => n.type === type),
        type,
      );
    }
    await eventually(() => /\[info\] Started flows/.test(output()), 10_000, 'flows started');
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    assert.match(output(), /Stopping Node-RED and the emulator/);
  });

  it('names a port in use and the flag that changes it', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const busy = (blocker.address() as AddressInfo).port;
    const { output, exited } = run([
      '--port',
      String(busy),
      '--user-dir',
      mkdtempSync(join(tmpdir(), 'aliyun-iot-start-')),
    ]);
    assert.equal(await exited, 1);
    blocker.close();
    assert.match(output(), new RegExp(`Port ${busy} is in use\\. Choose another with --port`));
  });
});
