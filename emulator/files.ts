// The emulator's file server: what the platform's OSS buckets are to a device, the place OTA
// firmware (PLATFORM.md §14.2) and remote configuration files (§15.1) are downloaded from.
// Its own HTTPS port, the same server certificate as the other TLS listeners.
//
// URLs look like OSS's time-limited ones, `https://host:port/<id>/<name>?Expires=<unix s>&Signature=…`
// (DOC:89307 push example `…?Expires=1502955804&OSSAccessKeyId=…&Signature=…`): the signature is an
// HMAC with a key made for this process only, so a guessed or altered URL gets 403, and an expired
// one gets 403 too, as OSS answers (`AccessDenied`, "Request has expired"). The body is OSS-like XML.
//
// Range requests: the Link SDK 4.x resumes with `Range: bytes=start-end` and takes 200 or 206
// (§14.2, L4 `aiot_ota_api.c` `OTA_RESPONSE_PARTIAL 206`), so GET honours one range; several ranges
// in one header are answered with the whole file (RFC 9110 lets a server ignore Range).
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { peerAddress } from './access';

/** One request the file server answered, newest last in `FileServer.requests`. */
export interface FileRequest {
  method: string;
  /** The path only: the query (expiry, signature) is left out. */
  path: string;
  /** The Range header as received. */
  range?: string;
  status: number;
  /** Set when a `cutNext` hook cut this answer short: the bytes of the body sent before the cut. */
  cutAfter?: number;
  address: string;
  time: number;
}

interface Offered {
  bytes: Buffer;
  /** The latest expiry any URL of this file was signed with (ms); pruned after it. */
  expiresAt: number;
}

const REQUEST_LOG_SIZE = 1000;

/** A name safe in a URL path segment and a Content-Disposition header. */
function safeName(name: string): string {
  const cleaned = name.replace(/[^\w.@+-]/g, '_').slice(0, 128);
  return cleaned === '' || /^\.+$/.test(cleaned) ? 'file.bin' : cleaned;
}

/**
 * One `bytes=` range of a file of `size` bytes: `start-end`, `start-`, `-suffix`. Undefined: no
 * usable Range (absent, malformed or several ranges: the whole file is sent); 'unsatisfiable': 416.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) return undefined;
  const [, from = '', to = ''] = match;
  if (from === '' && to === '') return undefined;
  if (from === '') {
    const suffix = Number(to);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(from);
  const end = to === '' ? size - 1 : Number(to);
  if (to !== '' && end < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(end, size - 1) };
}

function ossError(res: ServerResponse, status: number, code: string, message: string, head: boolean): void {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n  <Code>${code}</Code>\n  <Message>${message}</Message>\n</Error>\n`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) });
  res.end(head ? undefined : xml);
}

export class FileServer {
  /** Requests answered, newest last (bounded to the last 1,000), for tests: e.g. that a resumed download asked `bytes=N-`. */
  readonly requests: FileRequest[] = [];
  private readonly key = randomBytes(32);
  private readonly files = new Map<string, Offered>();
  /** Path → bytes of the body to send before the connection is destroyed, once. */
  private readonly cuts = new Map<string, number>();
  private readonly server: Server;
  private boundPort = 0;

  constructor(
    tls: { cert: string; key: string },
    /** The host the URLs name: what devices reach the emulator by. */
    private readonly publicHost: string,
    private readonly now: () => number = Date.now,
  ) {
    this.server = createServer(tls, (req, res) => {
      try {
        this.answer(req, res);
      } catch {
        // Nothing throws out of a handler: a failure here is a destroyed connection, never a crash.
        res.destroy();
      }
    });
  }

  async listen(port: number, host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (this.server.address() as AddressInfo).port;
    return this.boundPort;
  }

  /** The port it listens on (0 before `listen`). */
  get port(): number {
    return this.boundPort;
  }

  /**
   * Serves `bytes` as `name` and answers the URL that downloads them until `expiresMs` from now.
   * Each call is a new file at a new, unguessable path.
   */
  offer(bytes: Buffer, opts: { name: string; expiresMs: number }): string {
    this.prune();
    const path = `/${randomBytes(12).toString('hex')}/${safeName(opts.name)}`;
    this.files.set(path, { bytes: Buffer.from(bytes), expiresAt: 0 });
    return this.sign(path, opts.expiresMs);
  }

  /**
   * A fresh URL for a file offered before (`url` is one of its URLs, expired or not), valid for
   * `expiresMs` from now; undefined when the file is gone.
   */
  renew(url: string, expiresMs: number): string | undefined {
    const path = this.pathOf(url);
    return path !== undefined && this.files.has(path) ? this.sign(path, expiresMs) : undefined;
  }

  /** Seconds-since-epoch expiry of a URL this server signed (what `Expires=` says). */
  static expiresOf(url: string): number {
    return Number(new URL(url).searchParams.get('Expires'));
  }

  /**
   * Test hook: the next GET of this URL's file (any of its URLs) sends the headers of the whole
   * answer and `afterBytes` bytes of the body, then destroys the connection mid-body.
   */
  cutNext(url: string, afterBytes: number): void {
    const path = this.pathOf(url);
    if (path !== undefined) this.cuts.set(path, Math.max(0, Math.floor(afterBytes)));
  }

  /** Requests for one URL's file, e.g. to read the Range headers a client sent. */
  requestsFor(url: string): FileRequest[] {
    const path = this.pathOf(url);
    return this.requests.filter((r) => r.path === path);
  }

  close(): void {
    this.server.close();
    this.server.closeAllConnections();
    this.files.clear();
  }

  private pathOf(url: string): string | undefined {
    try {
      return new URL(url, 'https://emulator').pathname;
    } catch {
      return undefined;
    }
  }

  private sign(path: string, expiresMs: number): string {
    const expires = Math.floor((this.now() + expiresMs) / 1000);
    const file = this.files.get(path);
    if (file) file.expiresAt = Math.max(file.expiresAt, expires * 1000);
    const signature = this.signature(path, String(expires));
    const host = this.publicHost.includes(':') ? `[${this.publicHost}]` : this.publicHost;
    return `https://${host}:${this.boundPort}${path}?Expires=${expires}&Signature=${encodeURIComponent(signature)}`;
  }

  /** OSS signs `VERB\n…\nExpires\n/bucket/object` with HMAC-SHA1, base64; the same idea, own key. */
  private signature(path: string, expires: string): string {
    return createHmac('sha256', this.key).update(`GET\n${expires}\n${path}`).digest('base64');
  }

  private signatureOk(path: string, expires: string, given: string): boolean {
    const want = Buffer.from(this.signature(path, expires));
    const got = Buffer.from(given);
    return want.length === got.length && timingSafeEqual(want, got);
  }

  /** Files whose every URL expired are dropped: they could only be answered 403. */
  private prune(): void {
    const now = this.now();
    for (const [path, file] of this.files) if (file.expiresAt > 0 && file.expiresAt < now) this.files.delete(path);
  }

  private log(entry: FileRequest): void {
    this.requests.push(entry);
    if (this.requests.length > REQUEST_LOG_SIZE) this.requests.shift();
  }

  private answer(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://emulator');
    const method = req.method ?? 'GET';
    const range = typeof req.headers.range === 'string' ? req.headers.range : undefined;
    const entry: FileRequest = {
      method,
      path: url.pathname,
      ...(range !== undefined && { range }),
      status: 0,
      address: peerAddress(req.socket.remoteAddress),
      time: this.now(),
    };
    this.log(entry);
    const head = method === 'HEAD';
    const fail = (status: number, code: string, message: string) => {
      entry.status = status;
      ossError(res, status, code, message, head);
    };
    if (method !== 'GET' && !head) {
      res.setHeader('allow', 'GET, HEAD');
      return fail(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
    }
    const expires = url.searchParams.get('Expires') ?? '';
    const signature = url.searchParams.get('Signature') ?? '';
    const file = this.files.get(url.pathname);
    // A wrong signature and an unknown path look the same: nothing tells a guesser which part was wrong.
    if (!file || !/^\d+$/.test(expires) || !this.signatureOk(url.pathname, expires, signature)) {
      return fail(
        403,
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided.',
      );
    }
    if (Number(expires) * 1000 < this.now()) return fail(403, 'AccessDenied', 'Request has expired.');
    this.send(req, res, file.bytes, entry, head);
  }

  private send(req: IncomingMessage, res: ServerResponse, bytes: Buffer, entry: FileRequest, head: boolean): void {
    const size = bytes.length;
    const range = parseRange(entry.range, size);
    res.setHeader('accept-ranges', 'bytes');
    res.setHeader('content-type', 'application/octet-stream');
    if (range === 'unsatisfiable') {
      res.setHeader('content-range', `bytes */${size}`);
      entry.status = 416;
      ossError(res, 416, 'InvalidRange', 'The requested range cannot be satisfied.', head);
      return;
    }
    const body = range ? bytes.subarray(range.start, range.end + 1) : bytes;
    entry.status = range ? 206 : 200;
    res.setHeader('content-length', body.length);
    if (range) res.setHeader('content-range', `bytes ${range.start}-${range.end}/${size}`);
    res.writeHead(entry.status);
    if (head) {
      res.end();
      return;
    }
    const cut = this.cuts.get(entry.path);
    if (cut === undefined || cut >= body.length) {
      res.end(body);
      return;
    }
    this.cuts.delete(entry.path);
    entry.cutAfter = cut;
    const destroy = () => {
      req.socket.destroy();
    };
    if (cut === 0) {
      res.flushHeaders();
      setImmediate(destroy);
    } else res.write(body.subarray(0, cut), () => setImmediate(destroy));
  }
}
