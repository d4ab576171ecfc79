// The file server behind OTA and remote-configuration URLs: OSS-like signed, expiring URLs, Range
// requests (what the Link SDK 4.x sends to resume, PLATFORM.md §14.2), HEAD, and the test
// hooks `cutNext` and `requests`.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Emulator } from '../../emulator/index';
import { CLI_DEFAULT_PORTS, parseCliArgs, USAGE } from '../../emulator/cli-args';
import { parseRange } from '../../emulator/files';
import { eventually, start } from '../helpers/emulator';
import { download } from './ota-fixture';

describe('emulator: file server', () => {
  let emu: Emulator;
  const bytes = randomBytes(100_000);
  let url: string;
  before(async () => {
    emu = await start({ rateLimit: 0 });
    url = emu.files.offer(bytes, { name: 'fw.bin', expiresMs: 60_000 });
  });
  after(async () => {
    await emu.close();
  });

  it('serves an offered file on its own HTTPS port, with OSS-like signed URLs', async () => {
    const parsed = new URL(url);
    assert.equal(parsed.protocol, 'https:');
    assert.equal(Number(parsed.port), emu.ports.files);
    assert.notEqual(emu.ports.files, emu.ports.https);
    assert.match(parsed.pathname, /^\/[0-9a-f]+\/fw\.bin$/);
    const expires = Number(parsed.searchParams.get('Expires'));
    assert.ok(Math.abs(expires - (Date.now() + 60_000) / 1000) < 5, 'Expires in unix seconds');
    assert.ok(parsed.searchParams.get('Signature'));
    const got = await download(emu, url);
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(bytes));
    assert.equal(got.headers['content-length'], String(bytes.length));
    assert.equal(got.headers['accept-ranges'], 'bytes');
  });

  it('answers HEAD with the headers and no body', async () => {
    const got = await download(emu, url, { method: 'HEAD' });
    assert.deepEqual([got.status, got.headers['content-length'], got.body.length], [200, String(bytes.length), 0]);
  });

  it('honours one Range: start-end, start-, suffix; 416 beyond the end', async () => {
    const part = await download(emu, url, { headers: { range: 'bytes=10-19' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], `bytes 10-19/${bytes.length}`);
    assert.equal(part.headers['content-length'], '10');
    assert.ok(part.body.equals(bytes.subarray(10, 20)));
    const rest = await download(emu, url, { headers: { range: 'bytes=99990-' } });
    assert.deepEqual([rest.status, rest.headers['content-range']], [206, `bytes 99990-99999/${bytes.length}`]);
    assert.ok(rest.body.equals(bytes.subarray(99_990)));
    const clamped = await download(emu, url, { headers: { range: 'bytes=99995-200000' } });
    assert.deepEqual([clamped.status, clamped.body.length], [206, 5]);
    const suffix = await download(emu, url, { headers: { range: 'bytes=-4' } });
    assert.ok(suffix.body.equals(bytes.subarray(-4)));
    const beyond = await download(emu, url, { headers: { range: `bytes=${bytes.length}-` } });
    assert.deepEqual([beyond.status, beyond.headers['content-range']], [416, `bytes */${bytes.length}`]);
    // A Range it cannot use (several ranges, nonsense) gets the whole file, as RFC 9110 allows.
    const several = await download(emu, url, { headers: { range: 'bytes=0-1,5-6' } });
    assert.deepEqual([several.status, several.body.length], [200, bytes.length]);
    assert.equal(parseRange('bytes=5-2', 10), undefined);
    assert.equal(parseRange('bytes=-0', 10), 'unsatisfiable');
  });

  it('refuses an altered signature, an altered expiry, a guessed path and an expired URL with 403', async () => {
    const parsed = new URL(url);
    const signature = parsed.searchParams.get('Signature') ?? '';
    const altered = new URL(url);
    altered.searchParams.set('Signature', `${signature.slice(0, -2)}AA`);
    const later = new URL(url);
    later.searchParams.set('Expires', String(Number(parsed.searchParams.get('Expires')) + 3600));
    const guessed = new URL(url);
    guessed.pathname = '/0123456789abcdef01234567/fw.bin';
    const unsigned = `${parsed.origin}${parsed.pathname}`;
    for (const bad of [altered.href, later.href, guessed.href, unsigned]) {
      const got = await download(emu, bad);
      assert.equal(got.status, 403, bad);
      assert.match(got.body.toString(), /<Code>SignatureDoesNotMatch<\/Code>/);
    }
    const expired = emu.files.offer(bytes, { name: 'old.bin', expiresMs: -2000 });
    const got = await download(emu, expired);
    assert.equal(got.status, 403);
    assert.match(got.body.toString(), /<Code>AccessDenied<\/Code>[\s\S]*expired/);
    // renew() signs a fresh URL for the same file.
    const renewed = emu.files.renew(expired, 60_000) ?? '';
    assert.ok((await download(emu, renewed)).body.equals(bytes));
  });

  it('cuts the next download after N bytes; the resumed download asks bytes=N- and gets the rest', async () => {
    const cutUrl = emu.files.offer(bytes, { name: 'cut.bin', expiresMs: 60_000 });
    emu.files.cutNext(cutUrl, 30_000);
    const first = await download(emu, cutUrl);
    assert.equal(first.status, 200);
    assert.ok(first.broken, 'the connection breaks mid-body');
    assert.equal(first.body.length, 30_000);
    assert.ok(first.body.equals(bytes.subarray(0, 30_000)));
    const second = await download(emu, cutUrl, { headers: { range: `bytes=${first.body.length}-` } });
    assert.equal(second.status, 206);
    assert.ok(Buffer.concat([first.body, second.body]).equals(bytes));
    const seen = emu.files.requestsFor(cutUrl);
    assert.deepEqual(
      seen.map((r) => [r.method, r.status, r.range, r.cutAfter]),
      [
        ['GET', 200, undefined, 30_000],
        ['GET', 206, 'bytes=30000-', undefined],
      ],
    );
    assert.ok(emu.files.requests.length >= seen.length);
    assert.ok(!emu.files.requests.some((r) => r.path.includes('Signature')), 'the log keeps no signature');
    // The hook is used once: the download after it is whole.
    assert.equal((await download(emu, cutUrl)).body.length, bytes.length);
  });

  it('refuses methods other than GET and HEAD', async () => {
    const got = await download(emu, url, { method: 'PUT' });
    assert.equal(got.status, 405);
  });
});

describe('emulator CLI: the files port', () => {
  it('has a default after the others, a --files-port flag, and a line in USAGE', () => {
    const others = [CLI_DEFAULT_PORTS.mqtt, CLI_DEFAULT_PORTS.mqtts, CLI_DEFAULT_PORTS.ws, CLI_DEFAULT_PORTS.wss];
    assert.equal(CLI_DEFAULT_PORTS.files, CLI_DEFAULT_PORTS.https + 1);
    assert.ok(!others.includes(CLI_DEFAULT_PORTS.files));
    assert.equal(parseCliArgs(['--files-port', '4321']).ports.files, 4321);
    assert.equal(parseCliArgs([]).ports.files, CLI_DEFAULT_PORTS.files);
    assert.match(USAGE, new RegExp(`--files-port ${CLI_DEFAULT_PORTS.files} +HTTPS downloads`));
  });

  it('prints the files port in its banner and serves on it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'emu-files-cli-'));
    const ports = ['mqtt', 'mqtts', 'ws', 'wss', 'https', 'files', 'amqp'].flatMap((p) => [`--${p}-port`, '0']);
    const cli = join(__dirname, '..', '..', 'dist', 'emulator', 'cli.js');
    const child = spawn(process.execPath, [cli, '--data-dir', dataDir, ...ports], {
      env: { ...process.env, ALIYUN_IOT_EMULATOR_API_TOKEN: '' },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await eventually(() => out.includes('Press Ctrl-C'), 30_000, 'the banner');
      const port = Number(/Files\s+https:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]);
      assert.ok(port > 0, out);
      const ca = readFileSync(join(dataDir, 'ca.pem'), 'utf8');
      const got = await download({ ca } as Emulator, `https://127.0.0.1:${port}/nothing/here.bin`);
      assert.equal(got.status, 403);
    } finally {
      child.kill('SIGINT');
      await exited;
    }
  });
});
