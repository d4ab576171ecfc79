// The platform's OpenAPI on the emulator's HTTPS port (RPC style, version 2018-01-20,
// PLATFORM.md §17.2): requests to `/`, GET with the parameters in the query or POST with them in an
// `application/x-www-form-urlencoded` body (the query may carry some too). Checked in this order,
// as an API gateway does before the action runs: the common parameters are there, `Version`, a
// known `Action`, `SignatureMethod=HMAC-SHA1` and `SignatureVersion=1.0`, `Timestamp` near the
// emulator's clock, a known `AccessKeyId`, the signature (emulator/openapi-sign.ts), a nonce not
// used before, the call rate of the AccessKey; then `IotInstanceId` and the action
// (emulator/openapi-actions.ts).
//
// Answers are JSON whatever `Format` asks (the platform's default is XML; no client of this
// emulator asks for it). The gateway's refusals are `{RequestId, HostId, Code, Message}` with HTTP
// 400 or 404; an action's are HTTP 200 `{RequestId, Success: false, Code, ErrorMessage}`; success
// is `{RequestId, Success: true, ...}`. Every RequestId is a fresh UUID. No answer or log line
// carries an AccessKey secret or a signature.
//
// Gateway codes: `Missing{Parameter}`, `InvalidVersion`, `InvalidApi.NotFound` (404),
// `InvalidSignatureMethod`, `InvalidSignatureVersion`, `InvalidTimeStamp.Format`,
// `InvalidTimeStamp.Expired`, `InvalidAccessKeyId.NotFound` (404), `SignatureDoesNotMatch`,
// `SignatureNonceUsed`, `Throttling.User`, `InvalidParameter` (a parameter given twice),
// `UnsupportedHTTPMethod` (405). The signature, nonce and timestamp codes are the platform's; the
// exact form of the others, their HTTP statuses and the 15-minute windows are UNVERIFIED.
// `IotInstanceId`: with an instance ID configured it must be given and equal — absent answers
// `iot.common.InvalidTenant`, another value `iot.system.InstanceNotFound` (documented codes; which
// answers an absent ID is UNVERIFIED); without one, absent or empty is taken and any value refused
// with `iot.system.InstanceNotFound`.
import { randomUUID } from 'node:crypto';
import type { Accounts } from './accounts';
import type { CloudContext } from './cloud-api';
import { ACTIONS, ActionError, Params, PopError } from './openapi-actions';
import { CallRates, OPENAPI_ACTIONS, type OpenApiAction, type ResolvedOpenApiLimits } from './openapi-limits';
import { NonceBook, parseTimestamp, signatureMatches, stringToSign } from './openapi-sign';

export const OPENAPI_VERSION = '2018-01-20';

export interface OpenApiContext extends CloudContext {
  accounts: Accounts;
  openApiLimits: ResolvedOpenApiLimits;
}

export interface OpenApiRequest {
  method: string;
  /** The query string's parameters. */
  query: URLSearchParams;
  /** The body as text, and its content type. */
  body: string;
  contentType: string | undefined;
  /** The host name the caller reached, for `HostId`. */
  host: string | undefined;
}

export interface OpenApiAnswer {
  status: number;
  body: Record<string, unknown>;
  /** The caller failed to prove its AccessKey (unknown ID, wrong signature): a guess to count. */
  authFailed?: boolean;
}

/** Common parameters every call carries, in the order their absence is reported. */
const REQUIRED = [
  'Action',
  'Version',
  'AccessKeyId',
  'Signature',
  'SignatureMethod',
  'SignatureVersion',
  'SignatureNonce',
  'Timestamp',
] as const;

const requestId = (): string => randomUUID().toUpperCase();

class Refusal extends Error {
  constructor(readonly answer: OpenApiAnswer) {
    super(String(answer.body.Code));
  }
}

/** The parameters of query and form body, each name once; a name given twice is refused. */
function parametersOf(request: OpenApiRequest): Map<string, string> | string {
  const params = new Map<string, string>();
  const form = request.contentType === undefined || /^application\/x-www-form-urlencoded\b/i.test(request.contentType);
  const sources = [request.query, ...(request.method === 'POST' && form ? [new URLSearchParams(request.body)] : [])];
  for (const source of sources) {
    for (const [name, value] of source) {
      if (params.has(name)) return name;
      params.set(name, value);
    }
  }
  return params;
}

export class OpenApi {
  private readonly nonces: NonceBook;
  private readonly rates: CallRates;

  constructor(private readonly ctx: OpenApiContext) {
    this.nonces = new NonceBook(ctx.openApiLimits.nonceWindowMs);
    this.rates = new CallRates(ctx.openApiLimits.qps);
  }

  private hostId(request: OpenApiRequest): string {
    return request.host ?? 'iot.cn-shanghai.aliyuncs.com';
  }

  private pop(request: OpenApiRequest, status: number, code: string, message: string): Refusal {
    return new Refusal({
      status,
      body: { RequestId: requestId(), HostId: this.hostId(request), Code: code, Message: message },
    });
  }

  async handle(request: OpenApiRequest): Promise<OpenApiAnswer> {
    try {
      const { action, params } = this.admit(request);
      return await this.run(action, params);
    } catch (err) {
      if (err instanceof Refusal) return err.answer;
      if (err instanceof PopError) return this.pop(request, err.status, err.code, err.message).answer;
      throw err;
    }
  }

  /** The gateway's checks; the action and its parameters when they all pass. */
  private admit(request: OpenApiRequest): { action: OpenApiAction; params: Params } {
    const method = request.method.toUpperCase();
    if (method !== 'GET' && method !== 'POST')
      throw this.pop(request, 405, 'UnsupportedHTTPMethod', 'Specified HTTP method is not supported; use GET or POST.');
    const map = parametersOf(request);
    if (typeof map === 'string')
      throw this.pop(request, 400, 'InvalidParameter', `The parameter ${map} is given more than once.`);
    const params = new Params(map);
    for (const name of REQUIRED) params.require(name);
    const get = (name: (typeof REQUIRED)[number]) => params.require(name);
    if (get('Version') !== OPENAPI_VERSION)
      throw this.pop(
        request,
        400,
        'InvalidVersion',
        `Specified parameter Version is not valid: use ${OPENAPI_VERSION}.`,
      );
    const action = get('Action');
    if (!(OPENAPI_ACTIONS as readonly string[]).includes(action))
      throw this.pop(
        request,
        404,
        'InvalidApi.NotFound',
        'Specified api is not found, please check your url and method.',
      );
    if (get('SignatureMethod') !== 'HMAC-SHA1')
      throw this.pop(
        request,
        400,
        'InvalidSignatureMethod',
        'Specified signature method is not supported: use HMAC-SHA1.',
      );
    if (get('SignatureVersion') !== '1.0')
      throw this.pop(request, 400, 'InvalidSignatureVersion', 'Specified signature version is not supported: use 1.0.');
    const time = parseTimestamp(get('Timestamp'));
    if (time === undefined)
      throw this.pop(
        request,
        400,
        'InvalidTimeStamp.Format',
        'Specified time stamp or date value is not well formatted: use YYYY-MM-DDThh:mm:ssZ (UTC).',
      );
    if (Math.abs(Date.now() - time) > this.ctx.openApiLimits.timestampSkewMs)
      throw this.pop(request, 400, 'InvalidTimeStamp.Expired', 'Specified time stamp or date value is expired.');
    const accessKeyId = get('AccessKeyId');
    const secret = this.ctx.accounts.secretOf(accessKeyId);
    if (secret === undefined) {
      const refusal = this.pop(request, 404, 'InvalidAccessKeyId.NotFound', 'Specified access key is not found.');
      refusal.answer.authFailed = true;
      throw refusal;
    }
    if (!signatureMatches(method, map, secret, get('Signature'))) {
      // The string the emulator signed helps a client find its mistake; it holds no secret.
      const refusal = this.pop(
        request,
        400,
        'SignatureDoesNotMatch',
        `Specified signature is not matched with our calculation. server string to sign is:${stringToSign(method, map)}`,
      );
      refusal.answer.authFailed = true;
      throw refusal;
    }
    if (!this.nonces.use(accessKeyId, get('SignatureNonce')))
      throw this.pop(request, 400, 'SignatureNonceUsed', 'Specified signature nonce was used already.');
    if (!this.rates.admit(accessKeyId, action as OpenApiAction))
      throw this.pop(request, 400, 'Throttling.User', 'Request was denied due to user flow control.');
    return { action: action as OpenApiAction, params };
  }

  /** The instance check and the action; an action's refusal is HTTP 200 with `Success: false`. */
  private async run(action: OpenApiAction, params: Params): Promise<OpenApiAnswer> {
    const id = requestId();
    try {
      this.checkInstance(params.get('IotInstanceId'));
      const fields = await ACTIONS[action](this.ctx, params, { regionId: params.get('RegionId') });
      return { status: 200, body: { RequestId: id, Success: true, ...fields } };
    } catch (err) {
      if (err instanceof ActionError)
        return { status: 200, body: { RequestId: id, Success: false, Code: err.code, ErrorMessage: err.message } };
      throw err;
    }
  }

  private checkInstance(given: string | undefined): void {
    const wanted = this.ctx.accounts.iotInstanceId;
    if (given === wanted) return;
    if (given === undefined)
      throw new ActionError('iot.common.InvalidTenant', 'The tenant is invalid: this instance needs IotInstanceId.');
    throw new ActionError('iot.system.InstanceNotFound', 'The specified instance ID does not exist.');
  }
}
