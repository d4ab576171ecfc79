// One HTTPS port: device auth and registration under /auth, the cloud API under /api.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { authDevice, registerDevice } from './auth-routes';
import { cloudApi, type CloudContext } from './cloud-api';

const BODY_LIMIT = 1024 * 1024;

/** A failure the next matching device call (`/auth/...`) meets instead of its answer, for tests. */
export type HttpFault =
  | { path?: string; kind: 'status'; status: number }
  | { path?: string; kind: 'not-json' }
  | { path?: string; kind: 'hang' };

export interface AuthRequest {
  path: string;
  time: number;
  fault?: HttpFault['kind'];
}

const AUTH_LOG_SIZE = 1000;

export interface HttpContext extends CloudContext {
  mqtt: () => { host: string; port: number };
  /** Consumed in order by matching device calls. */
  faults: HttpFault[];
  /** Every device call, newest last (bounded). */
  authRequests: AuthRequest[];
}

/** Applies the first fault queued for this path; true when the request is taken care of. */
function injectFault(ctx: HttpContext, path: string, res: ServerResponse): boolean {
  const index = ctx.faults.findIndex((f) => f.path === undefined || f.path === path);
  const fault = index >= 0 ? ctx.faults.splice(index, 1)[0] : undefined;
  ctx.authRequests.push({ path, time: Date.now(), fault: fault?.kind });
  if (ctx.authRequests.length > AUTH_LOG_SIZE) ctx.authRequests.shift();
  if (!fault) return false;
  if (fault.kind === 'status') send(res, fault.status, { code: fault.status, message: 'injected fault' });
  else if (fault.kind === 'not-json') {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<html><body>Service Unavailable</body></html>');
  }
  // 'hang': no answer at all; the server's close destroys the socket.
  return true;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > BODY_LIMIT) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json;charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function parseJson(text: string): Record<string, unknown> | undefined {
  if (text.trim() === '') return {};
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

async function route(ctx: HttpContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://emulator');
  const method = req.method ?? 'GET';
  const text = await readBody(req);
  if (url.pathname.startsWith('/auth/') && injectFault(ctx, url.pathname, res)) return;
  if (url.pathname === '/auth/devicename' && method === 'POST') {
    send(res, 200, authDevice(ctx.registry, new URLSearchParams(text), ctx.mqtt()));
  } else if (url.pathname === '/auth/register/device' && method === 'POST') {
    send(res, 200, registerDevice(ctx.registry, new URLSearchParams(text)));
  } else if (url.pathname.startsWith('/api/')) {
    const body = parseJson(text);
    if (!body) {
      send(res, 400, { code: 'BAD_REQUEST', message: 'body must be a JSON object' });
      return;
    }
    const path = url.pathname.slice('/api/'.length).split('/').filter(Boolean).map(decodeURIComponent);
    const answer = await cloudApi(ctx, method, path, body);
    send(res, answer.status, answer.body);
  } else {
    send(res, 404, { code: 'NOT_FOUND' });
  }
}

export function createHttpsServer(ctx: HttpContext, tls: { cert: string; key: string }): Server {
  return createServer(tls, (req, res) => {
    route(ctx, req, res).catch((err: unknown) => {
      if (!res.headersSent)
        send(res, 500, { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) });
      else res.destroy();
    });
  });
}
