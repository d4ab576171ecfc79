// One form POST to the platform's HTTPS auth host, bounded in time and size, answered as JSON.
// node:https because Node 20's fetch cannot be given the CA list the platform's roots need.
import { request } from 'node:https';
import { AliyunIotError, type ErrorCode } from './errors';
import { parseJsonObject } from './payload';

export interface HttpsTarget {
  host: string;
  port: number;
  /** CAs to trust; Node's own roots when absent. */
  ca?: readonly string[];
  rejectUnauthorized: boolean;
  servername?: string;
}

export const HTTPS_TIMEOUT_MS = 15_000;
/** The platform's answers are a few hundred bytes; anything far larger is not the platform. */
export const HTTPS_MAX_BYTES = 64 * 1024;

export interface FormPostOptions {
  timeoutMs?: number;
  maxBytes?: number;
  /** Statuses whose JSON body is the answer; 2xx when absent (the OpenAPI answers errors as 4xx JSON). */
  acceptStatus?: (status: number) => boolean;
}

const SUCCESS = (status: number) => status >= 200 && status < 300;

/** POSTs `form` and resolves the JSON object the server answered; every failure is an AliyunIotError. */
export function postForm(
  target: HttpsTarget,
  path: string,
  form: Readonly<Record<string, string | undefined>>,
  { timeoutMs = HTTPS_TIMEOUT_MS, maxBytes = HTTPS_MAX_BYTES, acceptStatus = SUCCESS }: FormPostOptions = {},
): Promise<Record<string, unknown>> {
  const body = new URLSearchParams();
  for (const [key, value] of Object.entries(form)) if (value !== undefined) body.append(key, value);
  const text = body.toString();
  const where = `${target.host}:${target.port}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (code: ErrorCode, params: Record<string, unknown>) => {
      if (settled) return;
      settled = true;
      req.destroy();
      reject(new AliyunIotError(code, { host: where, ...params }));
    };
    const req = request(
      {
        host: target.host,
        port: target.port,
        path,
        method: 'POST',
        ca: target.ca ? [...target.ca] : undefined,
        rejectUnauthorized: target.rejectUnauthorized,
        servername: target.servername || undefined,
        headers: {
          'content-type': 'application/x-www-form-urlencoded;charset=utf-8',
          'content-length': Buffer.byteLength(text),
        },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) fail('HTTPS_TOO_LARGE', { max: maxBytes });
          else chunks.push(chunk);
        });
        res.on('error', (err) => fail('HTTPS_FAILED', { reason: err.message }));
        res.on('end', () => {
          if (settled) return;
          const status = res.statusCode ?? 0;
          if (!acceptStatus(status)) return fail('HTTPS_STATUS', { status });
          const parsed = parseJsonObject(Buffer.concat(chunks));
          if (!parsed) return fail('HTTPS_NOT_JSON', {});
          settled = true;
          resolve(parsed);
        });
      },
    );
    req.on('timeout', () => fail('HTTPS_TIMEOUT', { seconds: timeoutMs / 1000 }));
    req.on('error', (err) => fail('HTTPS_FAILED', { reason: err.message }));
    req.end(text);
  });
}
