// One account's OpenAPI calls: signed (openapi-sign.ts), sent over node:https with the account's
// TLS rules, paced per action below the platform's documented QPS (PLATFORM.md §17.2), and
// answered as the platform's JSON or as an error carrying its Code and RequestId.
import { randomUUID } from 'node:crypto';
import { AliyunIotError } from '../errors';
import { postForm, type HttpsTarget } from '../https-form';
import { Pacer } from '../pacer';
import type { AccountOptions } from './account-options';
import { signRpcCall } from './openapi-sign';

/**
 * Calls per second per action: 90 % of each documented per-account QPS, so that a process alone
 * never meets the platform's throttling. Other actions: 10/s (UNVERIFIED: the batch actions'
 * limit, the lowest documented one).
 */
export const ACTION_QPS: Readonly<Record<string, number>> = Object.freeze({
  Pub: 1440,
  RRpc: 900,
  SetDeviceProperty: 450,
  InvokeThingService: 450,
  QueryDeviceDetail: 45,
  GetDeviceShadow: 450,
  UpdateDeviceShadow: 450,
});
export const OTHER_ACTION_QPS = 10;
/** Calls waiting for their pace, per action, before the next is refused instead of queued. */
export const MAX_WAITING = 1000;
/** Answers carry at most a device's reply or shadow (a few hundred KB in base64). */
const MAX_ANSWER_BYTES = 2 * 1024 * 1024;
/** RRpc and synchronous services wait up to 8 s at the platform; the HTTP call allows more. */
const CALL_TIMEOUT_MS = 20_000;

export interface OpenApiDeps {
  now?: () => number;
  nonce?: () => string;
  /** Calls per second per action, replacing ACTION_QPS (tests, or an account with other limits). */
  qps?: (action: string) => number;
}

/** An action's line: calls wait their turn, one timer for the whole line. */
class ActionLine {
  private readonly pacer: Pacer;
  private readonly waiting: { go: () => void; stop: (err: Error) => void }[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(ratePerSecond: number, now: () => number) {
    this.pacer = new Pacer(ratePerSecond, now);
  }

  turn(): Promise<void> | 'busy' {
    if (this.waiting.length === 0 && this.pacer.take()) return Promise.resolve();
    if (this.waiting.length >= MAX_WAITING) return 'busy';
    return new Promise((go, stop) => {
      this.waiting.push({ go, stop });
      this.arm();
    });
  }

  /** Calls still waiting fail: the node that made them is closing. */
  close(err: Error): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const { stop } of this.waiting.splice(0)) stop(err);
  }

  private arm(): void {
    if (this.timer || this.waiting.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      while (this.waiting.length > 0 && this.pacer.take()) this.waiting.shift()?.go();
      this.arm();
    }, this.pacer.waitMs());
  }
}

export class OpenApiClient {
  private readonly lines = new Map<string, ActionLine>();
  private readonly target: HttpsTarget;
  private readonly now: () => number;
  private readonly nonce: () => string;
  private readonly qps: (action: string) => number;

  constructor(
    private readonly account: AccountOptions,
    deps: OpenApiDeps = {},
  ) {
    this.now = deps.now ?? Date.now;
    this.nonce = deps.nonce ?? randomUUID;
    this.qps = deps.qps ?? ((action) => ACTION_QPS[action] ?? OTHER_ACTION_QPS);
    this.target = {
      host: account.api.host,
      port: account.api.port,
      ca: account.tls.ca,
      rejectUnauthorized: account.tls.rejectUnauthorized,
      servername: account.tls.servername || undefined,
    };
  }

  /** The platform's answer to `action`; rejects with an AliyunIotError naming its Code and RequestId. */
  async call(action: string, params: Readonly<Record<string, string>>): Promise<Record<string, unknown>> {
    const turn = this.lineOf(action).turn();
    if (turn === 'busy') throw new AliyunIotError('API_BUSY', { action, max: MAX_WAITING });
    await turn;
    const form = signRpcCall({
      action,
      params,
      accessKeyId: this.account.accessKeyId,
      accessKeySecret: this.account.accessKeySecret,
      regionId: this.account.regionId,
      iotInstanceId: this.account.iotInstanceId || undefined,
      nonce: this.nonce(),
      timestampMs: this.now(),
    });
    // The platform answers its errors as JSON with 4xx and 5xx statuses too.
    const answer = await postForm(this.target, '/', form, {
      timeoutMs: CALL_TIMEOUT_MS,
      maxBytes: MAX_ANSWER_BYTES,
      acceptStatus: (status) => status >= 200 && status < 600,
    });
    if (answer.Success === false || (typeof answer.Code === 'string' && answer.Success !== true)) {
      throw new AliyunIotError('API_FAILED', {
        action,
        code: typeof answer.Code === 'string' ? answer.Code : 'unknown',
        reason: this.platformWords(answer.ErrorMessage ?? answer.Message),
        requestId: typeof answer.RequestId === 'string' ? answer.RequestId : '',
      });
    }
    return answer;
  }

  /**
   * The platform's own words, bounded, without its "string to sign" (every parameter, the AccessKey
   * ID among them) and without the AccessKey ID anywhere: a credential, kept out of logs.
   */
  private platformWords(text: unknown): string {
    const words = (typeof text === 'string' ? text : '').replace(/\s*server string to sign is:.*$/is, '');
    return words.split(this.account.accessKeyId).join('…').slice(0, 300);
  }

  close(): void {
    for (const line of this.lines.values()) line.close(new AliyunIotError('API_CLOSED'));
    this.lines.clear();
  }

  private lineOf(action: string): ActionLine {
    let line = this.lines.get(action);
    if (!line) {
      line = new ActionLine(this.qps(action), this.now);
      this.lines.set(action, line);
    }
    return line;
  }
}
