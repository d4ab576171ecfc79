// One HTTPS port: device auth and registration under /auth (open, as on the platform: devices sign
// their calls), the cloud API under /api (behind the API token when there is one), and the
// platform's own OpenAPI at `/` (signed with an AccessKey, emulator/openapi.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { peerAddress, type ApiGate } from './access';
import { authDevice, registerDevice, type PlatformAnswer } from './auth-routes';
import { cloudApi } from './cloud-api';
import type { GuessGuard } from './guard';
import { OpenApi, type OpenApiContext } from './openapi';

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

export interface HttpContext extends OpenApiContext {
  /** The MQTT endpoint an HTTPS-auth answer names; `requestHost` is the Host the device used. */
  mqtt: (requestHost: string | undefined) => { host: string; port: number };
  /** Undefined: the API is open. */
  apiGate: ApiGate | undefined;
  guard: GuessGuard;
  log: (line: string) => void;
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

/** The host name in the request's Host header (brackets of an IPv6 address removed), if sane. */
function requestHost(req: IncomingMessage): string | undefined {
  const header = req.headers.host;
  if (!header) return undefined;
  try {
    const host = new URL(`https://${header}`).hostname.replace(/^\[(.*)\]$/, '$1');
    return /^[\w.:-]+$/.test(host) ? host : undefined;
  } catch {
    return undefined;
  }
}

/** Device calls: answered as the platform answers, failures counted against the caller's address. */
function authRoute(ctx: HttpContext, req: IncomingMessage, res: ServerResponse, text: string, address: string): void {
  const url = new URL(req.url ?? '/', 'https://emulator');
  if (injectFault(ctx, url.pathname, res)) return;
  const method = req.method ?? 'GET';
  let answer: PlatformAnswer | undefined;
  if (url.pathname === '/auth/devicename' && method === 'POST') {
    answer = authDevice(ctx.registry, new URLSearchParams(text), ctx.mqtt(requestHost(req)));
  } else if (url.pathname === '/auth/register/device' && method === 'POST') {
    answer = registerDevice(ctx.registry, new URLSearchParams(text));
  }
  if (answer?.code !== 200) ctx.guard.fail('https', address);
  if (answer) send(res, 200, answer);
  else send(res, 404, { code: 'NOT_FOUND' });
}

async function apiRoute(ctx: HttpContext, req: IncomingMessage, res: ServerResponse, text: string, address: string) {
  const url = new URL(req.url ?? '/', 'https://emulator');
  const method = req.method ?? 'GET';
  if (ctx.apiGate && !ctx.apiGate.allows(req.headers.authorization)) {
    ctx.guard.fail('api', address);
    // The peer and what it asked for; never what it presented.
    ctx.log(`aliyun-iot-emulator: refused ${method} ${url.pathname} from ${address}: no valid API token`);
    res.setHeader('www-authenticate', 'Bearer realm="aliyun-iot-emulator"');
    send(res, 401, { code: 'UNAUTHORIZED', message: 'the cloud API needs the header Authorization: Bearer <token>' });
    return;
  }
  const body = parseJson(text);
  if (!body) {
    send(res, 400, { code: 'BAD_REQUEST', message: 'body must be a JSON object' });
    return;
  }
  const path = url.pathname.slice('/api/'.length).split('/').filter(Boolean).map(decodeURIComponent);
  const answer = await cloudApi(ctx, method, path, body);
  send(res, answer.status, answer.body);
}

/**
 * The OpenAPI: a call that fails to prove its AccessKey (unknown ID, wrong signature) counts against
 * the caller's address as a refused API token does.
 */
async function openApiRoute(
  ctx: HttpContext,
  openApi: OpenApi,
  req: IncomingMessage,
  res: ServerResponse,
  text: string,
  address: string,
) {
  const url = new URL(req.url ?? '/', 'https://emulator');
  const answer = await openApi.handle({
    method: req.method ?? 'GET',
    query: url.searchParams,
    body: text,
    contentType: req.headers['content-type'],
    host: requestHost(req),
  });
  if (answer.authFailed) {
    ctx.guard.fail('api', address);
    // The peer and the refusal; never the AccessKey, its secret or the signature.
    ctx.log(`aliyun-iot-emulator: refused an OpenAPI call from ${address}: ${String(answer.body.Code)}`);
  }
  send(res, answer.status, answer.body);
}

async function route(ctx: HttpContext, openApi: OpenApi, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { pathname } = new URL(req.url ?? '/', 'https://emulator');
  const address = peerAddress(req.socket.remoteAddress);
  const text = await readBody(req);
  const kind = pathname.startsWith('/auth/')
    ? 'https'
    : pathname.startsWith('/api/') || pathname === '/'
      ? 'api'
      : undefined;
  if (kind === undefined) {
    send(res, 404, { code: 'NOT_FOUND' });
    return;
  }
  // Over the guessing limit an address waits before it hears anything, right or wrong.
  if (!(await ctx.guard.admitted(kind, address))) {
    res.destroy();
    return;
  }
  if (kind === 'https') authRoute(ctx, req, res, text, address);
  else if (pathname === '/') await openApiRoute(ctx, openApi, req, res, text, address);
  else await apiRoute(ctx, req, res, text, address);
}

export function createHttpsServer(ctx: HttpContext, tls: { cert: string; key: string }): Server {
  const openApi = new OpenApi(ctx);
  return createServer(tls, (req, res) => {
    route(ctx, openApi, req, res).catch((err: unknown) => {
      if (!res.headersSent)
        send(res, 500, { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) });
      else res.destroy();
    });
  });
}
