// The firmware download against a real local HTTPS server whose behaviour each test scripts: a
// link cut midway resumed with Range, a server that ignores Range, a wrong digest or size, an
// expired URL, the Buffer limit, TLS verification, and an abort.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createCertificateAuthority, issueServerCertificate } from '../../emulator/certs';
import { downloadFile, type DownloadOptions } from '../../nodes/lib/ota/download';
import type { FirmwareFile } from '../../nodes/lib/ota/protocol';
import { BufferSink, FileSink } from '../../nodes/lib/ota/sink';

const firmware = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7) % 256));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Serves `firmware`, honouring Range; `cutAfter` ends the first answer's socket after that many bytes. */
function serveFirmware(opts: { cutAfter?: number; ignoreRange?: boolean; body?: Buffer } = {}): Handler {
  let cut = opts.cutAfter;
  const body = opts.body ?? firmware;
  return (req, res) => {
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range && !opts.ignoreRange ? Number(range[1]) : 0;
    const part = body.subarray(start);
    res.writeHead(start > 0 ? 206 : 200, {
      'content-length': part.length,
      ...(start > 0 ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
    });
    if (cut !== undefined) {
      const n = cut;
      cut = undefined;
      res.write(part.subarray(0, n), () => res.socket?.destroy());
      return;
    }
    res.end(part);
  };
}

describe('OTA download over HTTPS', () => {
  let server: Server;
  let ca: string;
  let handler: Handler = serveFirmware();
  const ranges: (string | undefined)[] = [];
  let dir: string;
  const url = () => `https://localhost:${(server.address() as AddressInfo).port}/fw.bin?Expires=1`;
  const file = (sign = sha256(firmware), size = firmware.length): FirmwareFile => ({
    name: 'fw.bin',
    size,
    url: url(),
    sign,
  });
  const options = (extra: Partial<DownloadOptions> = {}): DownloadOptions => ({
    tls: { ca: [ca], rejectUnauthorized: true },
    digest: 'sha256',
    retryDelayMs: () => 5,
    ...extra,
  });

  before(async () => {
    const authority = createCertificateAuthority('OTA test CA');
    ca = authority.cert;
    server = createServer(issueServerCertificate(authority, ['localhost', '127.0.0.1']), (req, res) => {
      ranges.push(req.headers.range);
      handler(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    dir = mkdtempSync(join(tmpdir(), 'ota-download-'));
  });
  after(() => {
    server.close();
    server.closeAllConnections();
    rmSync(dir, { recursive: true, force: true });
  });

  const fresh = (h: Handler) => {
    handler = h;
    ranges.length = 0;
  };

  it('downloads, verifies and keeps the file only under its name once verified', async () => {
    fresh(serveFirmware());
    const sink = new FileSink(join(dir, 'a', 'fw.bin'));
    const seen: number[] = [];
    await downloadFile(file(), sink, options({ md5: md5(firmware), onBytes: (b) => seen.push(b) }));
    sink.commit();
    assert.deepEqual(readFileSync(join(dir, 'a', 'fw.bin')), firmware);
    assert.equal(seen.at(-1), firmware.length);
    assert.deepEqual(readdirSync(join(dir, 'a')), ['fw.bin']);
  });

  it('resumes a download cut halfway with a Range request, and the result verifies', async () => {
    fresh(serveFirmware({ cutAfter: 70_000 }));
    const sink = new BufferSink(1_000_000);
    await downloadFile(file(), sink, options());
    assert.deepEqual(sink.bytes, firmware);
    assert.equal(ranges[0], undefined);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(ranges[1] ?? '')?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= 70_000, `resumed at ${ranges[1] ?? 'nothing'}`);
  });

  it('starts over when the server ignores Range and sends the whole file again', async () => {
    fresh(serveFirmware({ cutAfter: 50_000, ignoreRange: true }));
    const sink = new BufferSink(1_000_000);
    await downloadFile(file(), sink, options());
    assert.deepEqual(sink.bytes, firmware);
    assert.equal(ranges.length, 2);
  });

  it('refuses firmware whose digest does not match and leaves no file behind', async () => {
    const corrupt = Buffer.from(firmware);
    corrupt[1234] = (corrupt[1234] ?? 0) ^ 0xff;
    fresh(serveFirmware({ body: corrupt }));
    const sink = new FileSink(join(dir, 'b', 'fw.bin'));
    await assert.rejects(downloadFile(file(), sink, options()), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'OTA_VERIFY_FAILED');
      assert.match(err.message, /sha256 does not match/);
      return true;
    });
    assert.deepEqual(readdirSync(join(dir, 'b')), []);
  });

  it('refuses a file shorter or longer than the cloud said', async () => {
    fresh(serveFirmware());
    await assert.rejects(
      downloadFile(file(sha256(firmware), firmware.length + 1), new BufferSink(1e6), options()),
      /bytes, the cloud said/,
    );
    await assert.rejects(
      downloadFile(file(sha256(firmware), 1000), new BufferSink(1e6), options()),
      /more than 1000 bytes/,
    );
  });

  it('checks the md5 beside a SHA256 sign', async () => {
    fresh(serveFirmware());
    await assert.rejects(downloadFile(file(), new BufferSink(1e6), options({ md5: md5(Buffer.from('other')) })), /md5/);
  });

  it('does not retry a URL the server refuses (expired)', async () => {
    fresh((_req, res) => {
      res.writeHead(403);
      res.end('AccessDenied');
    });
    await assert.rejects(downloadFile(file(), new BufferSink(1e6), options()), /HTTP 403/);
    assert.equal(ranges.length, 1);
  });

  it('gives up after its retries when the link keeps failing', async () => {
    fresh((req) => req.socket.destroy());
    await assert.rejects(
      downloadFile(file(), new BufferSink(1e6), options({ retries: 2 })),
      (err: Error & { code?: string }) => err.code === 'OTA_DOWNLOAD_FAILED',
    );
    assert.equal(ranges.length, 3);
  });

  it('stops at the Buffer limit', async () => {
    fresh(serveFirmware());
    await assert.rejects(
      downloadFile(file(), new BufferSink(10_000), options()),
      (err: Error & { code?: string }) => err.code === 'OTA_TOO_LARGE',
    );
  });

  it('keeps TLS verification on: a server its CA list does not vouch for is refused', async () => {
    fresh(serveFirmware());
    await assert.rejects(
      downloadFile(file(), new BufferSink(1e6), options({ tls: { rejectUnauthorized: true }, retries: 0 })),
      /certificate/,
    );
  });

  it('stops when aborted and removes the partial file', async () => {
    fresh((_req, res) => {
      res.writeHead(200, { 'content-length': firmware.length });
      res.write(firmware.subarray(0, 1000));
    });
    const abort = new AbortController();
    const sink = new FileSink(join(dir, 'c', 'fw.bin'));
    const running = downloadFile(file(), sink, options({ signal: abort.signal, onBytes: () => abort.abort() }));
    await assert.rejects(running, (err: Error & { code?: string }) => err.code === 'OTA_ABORTED');
    assert.equal(existsSync(join(dir, 'c', 'fw.bin.part')), false);
  });
});
