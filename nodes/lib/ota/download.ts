// One firmware file over HTTPS: resumed with `Range` where a dropped link left it, hashed as it
// arrives, and only handed over when its size and digest match what the cloud signed.
// node:https because Node 20's fetch cannot be given a CA list.
import { createHash, type Hash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { defaultCAs } from '../ca';
import type { PlatformTrust } from '../connection';
import { AliyunIotError } from '../errors';
import type { DigestMethod, FirmwareFile } from './protocol';
import type { FirmwareSink } from './sink';

export interface DownloadTls {
  ca?: readonly string[];
  rejectUnauthorized: boolean;
}

/**
 * What a download from the platform's file hosts trusts: the device's CAs (its gateway's for a
 * sub-device) and the public roots too, since OSS hosts are not the MQTT endpoint a custom CA was
 * given for. Verification stays as the device has it.
 */
export function downloadTlsOf(trust: PlatformTrust): DownloadTls {
  return { ca: [...new Set([...(trust.ca ?? []), ...defaultCAs()])], rejectUnauthorized: trust.rejectUnauthorized };
}

export interface DownloadOptions {
  tls: DownloadTls;
  digest: DigestMethod;
  /** The whole file's MD5 too, when the push carried one. */
  md5?: string;
  /** Called as bytes arrive (total of this file so far). */
  onBytes?: (bytes: number) => void;
  /** Attempts after a dropped link or a failed request before giving up. */
  retries?: number;
  /** Wait before attempt n (1-based); injected by tests. */
  retryDelayMs?: (attempt: number) => number;
  /** Silence on the socket that counts as a dropped link. */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
}

export const DOWNLOAD_RETRIES = 5;
export const DOWNLOAD_IDLE_TIMEOUT_MS = 30_000;
const defaultDelay = (attempt: number) => Math.min(30_000, 1000 * 2 ** (attempt - 1));

/** A Content-Range start of a 206 answer: the server resumed where asked, or it did not. */
function rangeStart(res: IncomingMessage): number | undefined {
  const match = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers['content-range'] ?? '');
  return match ? Number(match[1]) : undefined;
}

interface Attempt {
  /** The link dropped (or the server failed) after this many bytes in total. */
  dropped?: Error;
  /** Everything arrived. */
  complete?: true;
}

/** A sleep that an abort cuts short. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Downloads `file` into `sink`. Resolves once the bytes are verified; rejects with
 * OTA_DOWNLOAD_FAILED (the link kept failing), OTA_VERIFY_FAILED (size or digest wrong: the sink
 * is discarded) or OTA_ABORTED.
 */
export async function downloadFile(file: FirmwareFile, sink: FirmwareSink, options: DownloadOptions): Promise<void> {
  const retries = options.retries ?? DOWNLOAD_RETRIES;
  const delay = options.retryDelayMs ?? defaultDelay;
  let hash = createHash(options.digest);
  let md5 = options.md5 && options.digest !== 'md5' ? createHash('md5') : undefined;
  let received = 0;
  let lastError: Error | undefined;
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (options.signal?.aborted) break;
    if (attempt > 0) await pause(delay(attempt), options.signal);
    if (options.signal?.aborted) break;
    const result = await fetchFrom(file.url, received, options, (chunk, restart) => {
      if (restart) {
        // The server ignored the Range: what came before is replaced, from byte 0.
        hash = createHash(options.digest);
        md5 = options.md5 && options.digest !== 'md5' ? createHash('md5') : undefined;
        received = 0;
        sink.reset();
      }
      hash.update(chunk);
      md5?.update(chunk);
      received += chunk.length;
      if (received > file.size)
        throw new AliyunIotError('OTA_VERIFY_FAILED', { reason: `more than ${file.size} bytes` });
      sink.write(chunk);
      options.onBytes?.(received);
    }).catch((err: unknown): Attempt => ({ dropped: err instanceof Error ? err : new Error(String(err)) }));
    // Too many bytes, or a URL the server refuses (expired, wrong): trying again will not help.
    if (result.dropped instanceof AliyunIotError) {
      await sink.discard();
      throw result.dropped;
    }
    if (result.complete) {
      await sink.flush();
      try {
        verify(file, received, hash, md5, options);
      } catch (err) {
        await sink.discard();
        throw err;
      }
      return;
    }
    lastError = result.dropped;
  }
  await sink.discard();
  if (options.signal?.aborted) throw new AliyunIotError('OTA_ABORTED', {});
  throw new AliyunIotError('OTA_DOWNLOAD_FAILED', { reason: lastError?.message ?? 'unknown' });
}

function verify(file: FirmwareFile, received: number, hash: Hash, md5: Hash | undefined, options: DownloadOptions) {
  const fail = (reason: string) => new AliyunIotError('OTA_VERIFY_FAILED', { reason });
  if (received !== file.size) throw fail(`${received} bytes, the cloud said ${file.size}`);
  if (hash.digest('hex') !== file.sign.toLowerCase()) throw fail(`${options.digest} does not match the sign`);
  const md5Hex = md5?.digest('hex');
  if (md5Hex !== undefined && md5Hex !== options.md5?.toLowerCase()) throw fail('md5 does not match');
}

/**
 * One GET from `offset`. Resolves `complete` when the body ended at the file's end, `dropped` when
 * the link failed midway; `write` gets each chunk (and `restart` when the server sent it all again).
 */
function fetchFrom(
  url: string,
  offset: number,
  options: DownloadOptions,
  write: (chunk: Buffer, restart: boolean) => void,
): Promise<Attempt> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (result: Attempt | Error) => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener('abort', onAbort);
      if (result instanceof AliyunIotError) reject(result);
      else if (result instanceof Error) resolve({ dropped: result });
      else resolve(result);
    };
    const onAbort = () => {
      req.destroy();
      finish(new Error('aborted'));
    };
    const target = new URL(url);
    const req = httpsRequest(
      target,
      {
        method: 'GET',
        ca: options.tls.ca ? [...options.tls.ca] : undefined,
        rejectUnauthorized: options.tls.rejectUnauthorized,
        headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
        timeout: options.idleTimeoutMs ?? DOWNLOAD_IDLE_TIMEOUT_MS,
      },
      (res) => {
        const status = res.statusCode ?? 0;
        let restart = offset > 0;
        if (status === 206 && offset > 0 && rangeStart(res) === offset) restart = false;
        else if (status !== 200) {
          res.resume();
          // 4xx: the URL expired or is wrong; retrying it will not help.
          const error = new AliyunIotError('OTA_DOWNLOAD_FAILED', { reason: `HTTP ${status}` });
          return finish(status >= 400 && status < 500 ? error : new Error(`HTTP ${status}`));
        }
        res.on('data', (chunk: Buffer) => {
          if (settled) return;
          try {
            write(chunk, restart);
            restart = false;
          } catch (err) {
            req.destroy();
            finish(err as Error);
          }
        });
        res.on('end', () => finish(res.complete ? { complete: true } : new Error('the link dropped')));
        res.on('aborted', () => finish(new Error('the link dropped')));
        res.on('error', (err) => finish(err));
        res.on('close', () => finish(res.complete ? { complete: true } : new Error('the link dropped')));
      },
    );
    req.on('timeout', () => {
      req.destroy();
      finish(new Error('no data for too long'));
    });
    req.on('error', (err) => finish(err));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    req.end();
  });
}
