// The OpenAPI's actions (version 2018-01-20, PLATFORM.md §17.2), on the same services the private
// cloud API (emulator/cloud-api.ts) uses: the broker for `Pub`, the platform's calls for property
// set, services and RRPC (PLATFORM.md §16.2), the shadow service for the shadow actions. Each
// action returns the fields of a successful answer, or throws an ActionError (an `iot.*` code,
// answered with HTTP 200 and `Success: false`) or a PopError (the gateway's own errors, such as
// a missing parameter).
//
// Codes: `iot.device.NotExistedDevice`, `iot.prod.NotExistedProduct`, `iot.prod.NullProductKey`,
// `iot.device.NullDeviceName`, `iot.device.NoneDeviceProperties`, `iot.device.InvokeThingServiceFailed`,
// `iot.messagebroker.{OFFLINE, TIMEOUT, InvalidTimeoutValue, InvalidFormattedTopicName,
// MessageContentIsNotBase64Encode, ShadowMessageIsNotJson, NotFoundMethodInShadowMessage,
// MethodValueIsNotUpdate, NotFoundStateInShadowMessage, NotFoundDesireInShadowMessage,
// DesireInfoInShadowMessageIsNotJson, DesireValueIsNullInShadowMessage,
// NotFoundVersionOrNullVersionValue, InvalidVersionValueInShadowMessage, TooManyElementInDesire}` are
// the platform's documented codes (its OpenAPI error-code list); which situation answers which
// of them is the emulator's reading of their descriptions. `iot.check.InvalidFormattedParameter`
// answers a malformed `Items`, `Args` or other parameter (seen answering a malformed `Items`);
// the TSL's refusals keep their codes (emulator/tsl-api.ts).
import { createHash } from 'node:crypto';
import { MAX_PAYLOAD_BYTES } from './broker';
import type { ApiAnswer, CloudContext } from './cloud-api';
import { usesExtRrpc } from './ext-rrpc';
import type { OpenApiAction } from './openapi-limits';
import { RRPC_TIMEOUT_MAX_MS, RRPC_TIMEOUT_MIN_MS } from './platform';
import type { DeviceRecord } from './registry';
import { isPlainObject, type SectionChange } from './shadow';
import { refuseProperties, refuseService, serviceIdOk } from './tsl-api';

/** An action's refusal: HTTP 200, `{RequestId, Success: false, Code, ErrorMessage}`. */
export class ActionError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A refusal of the API gateway: `{RequestId, HostId, Code, Message}` with this HTTP status. */
export class PopError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The request's parameters, each given once (emulator/openapi.ts refuses a repeated one). */
export class Params {
  constructor(private readonly map: ReadonlyMap<string, string>) {}

  /** The value; undefined when absent or empty. */
  get(name: string): string | undefined {
    const value = this.map.get(name);
    return value === undefined || value === '' ? undefined : value;
  }

  /**
   * A required parameter: absent or empty answers the gateway's `Missing{Name}` (HTTP 400).
   * UNVERIFIED: the code's exact form, and whether an empty value counts as missing.
   */
  require(name: string): string {
    const value = this.get(name);
    if (value === undefined) throw new PopError(400, `Missing${name}`, `${name} is mandatory for this action.`);
    return value;
  }
}

export interface CallInfo {
  /** `RegionId` as given, for QueryDeviceDetail's `Region`. */
  regionId: string | undefined;
}

export type ActionFields = Record<string, unknown>;
type Action = (ctx: CloudContext, params: Params, call: CallInfo) => ActionFields | Promise<ActionFields>;

const bad = (message: string) => new ActionError('iot.check.InvalidFormattedParameter', message);
const offline = () => new ActionError('iot.messagebroker.OFFLINE', 'Failed because the device is offline.');

/**
 * The device's IotId: derived from its pk and dn, so the same across restarts and different for
 * every device. Not the `iotId` an HTTPS-auth token is issued under (no rule links the two).
 */
export function iotIdOf(device: { productKey: string; deviceName: string }): string {
  const digest = createHash('sha256').update(`iotId\n${device.productKey}\n${device.deviceName}`).digest('base64');
  return `${digest.replace(/[^A-Za-z0-9]/g, '').slice(0, 20)}000100`;
}

function notExisted(): ActionError {
  return new ActionError('iot.device.NotExistedDevice', 'The specified device does not exist.');
}

/** The device named by `IotId` (it wins when given, as on the platform) or `ProductKey` and `DeviceName`. */
function deviceOf(ctx: CloudContext, params: Params): DeviceRecord {
  const iotId = params.get('IotId');
  if (iotId !== undefined) {
    const found = ctx.registry.list().find((d) => iotIdOf(d) === iotId);
    if (!found) throw notExisted();
    return found;
  }
  const productKey = params.get('ProductKey');
  const deviceName = params.get('DeviceName');
  if (productKey === undefined) throw new ActionError('iot.prod.NullProductKey', 'ProductKey cannot be empty.');
  if (deviceName === undefined) throw new ActionError('iot.device.NullDeviceName', 'Device name cannot be empty.');
  const device = ctx.registry.device(productKey, deviceName);
  if (!device) throw notExisted();
  return device;
}

/** Strict base64 (padding included); a message that is not refuses the call. */
function base64Bytes(value: string): Buffer {
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(value))
    throw new ActionError(
      'iot.messagebroker.MessageContentIsNotBase64Encode',
      'The message content is not base64 encoded.',
    );
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length > MAX_PAYLOAD_BYTES) throw bad(`the message is larger than ${MAX_PAYLOAD_BYTES} bytes`);
  return bytes;
}

/** A JSON string holding an object: `Items`, `Args`. */
function jsonObject(name: string, value: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw bad(`The ${name} parameter format is invalid: it must be a JSON string of an object.`);
  }
  if (!isPlainObject(parsed)) throw bad(`The ${name} parameter format is invalid: it must be a JSON object.`);
  return parsed;
}

/** The TSL's refusal (emulator/tsl-api.ts) as the action's error. */
function refused(answer: ApiAnswer | undefined): void {
  if (!answer) return;
  const body = answer.body as { code: string; message: string };
  throw new ActionError(body.code, body.message);
}

let sequence = 0;
/** A message id as the platform's: digits, unique within this process. */
function messageId(): string {
  sequence = (sequence + 1) % 1_000_000;
  return `${Date.now()}${String(sequence).padStart(6, '0')}`;
}

const invalidTopic = (message: string) => new ActionError('iot.messagebroker.InvalidFormattedTopicName', message);

/**
 * Where `Pub` may publish (PLATFORM.md §17.2): a device's custom topic `/{pk}/{dn}/user/...` or the
 * product's broadcast topic `/broadcast/{pk}/...`, `pk` being the call's `ProductKey`; never a
 * `/sys/` topic (thing-model calls have actions of their own), never a wildcard or an empty level.
 */
function checkPubTopic(ctx: CloudContext, productKey: string, topic: string): void {
  if (!topic.startsWith('/') || /[+#]/.test(topic)) throw invalidTopic('The topic must be a full topic name.');
  const levels = topic.slice(1).split('/');
  if (levels.some((level) => level === '')) throw invalidTopic('The topic has an empty level.');
  if (levels[0] === 'sys')
    throw invalidTopic('Pub does not publish to /sys/ topics: use SetDeviceProperty or InvokeThingService.');
  if (levels[0] === 'broadcast' && levels[1] === productKey && levels.length >= 3) return;
  if (levels[0] === productKey && levels[2] === 'user' && levels.length >= 4) {
    if (!ctx.registry.device(productKey, levels[1] ?? '')) throw notExisted();
    return;
  }
  throw invalidTopic(`The topic must be /${productKey}/{DeviceName}/user/... or /broadcast/${productKey}/...`);
}

const pub: Action = async (ctx, params) => {
  const productKey = params.require('ProductKey');
  const topic = params.require('TopicFullName');
  const content = params.require('MessageContent');
  const qos = params.get('Qos') ?? '0';
  if (qos !== '0' && qos !== '1') throw bad('Qos must be 0 or 1.');
  if (!ctx.registry.product(productKey))
    throw new ActionError('iot.prod.NotExistedProduct', 'The specified product does not exist.');
  checkPubTopic(ctx, productKey, topic);
  const bytes = base64Bytes(content);
  // QoS 1 reaches a device that is offline with a persistent session when it comes back (the broker keeps it).
  await ctx.platform.publishDown(topic, bytes, qos === '1' ? 1 : 0);
  return { MessageId: messageId() };
};

/** Whole milliseconds within 1000-8000 (PLATFORM.md §17.2). */
function rrpcTimeout(value: string): number {
  const ms = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(ms >= RRPC_TIMEOUT_MIN_MS && ms <= RRPC_TIMEOUT_MAX_MS))
    throw new ActionError(
      'iot.messagebroker.InvalidTimeoutValue',
      `The timeout value is invalid: ${RRPC_TIMEOUT_MIN_MS} to ${RRPC_TIMEOUT_MAX_MS} ms.`,
    );
  return ms;
}

/**
 * `RRpc` (PLATFORM.md §16.2): the bytes on `/sys/{pk}/{dn}/rrpc/request/{messageId}`, or with `Topic`
 * (a custom topic of the device, without the `/ext/rrpc/{messageId}` prefix) on
 * `/ext/rrpc/{messageId}{Topic}`. The call succeeds whatever the device did; `RrpcCode` tells
 * (UNVERIFIED: whether the platform answers TIMEOUT and OFFLINE with `Success: true`; the API's
 * own field for them is RrpcCode). A custom-topic request goes out even to a device without
 * `ext=1` in its ClientId (UNVERIFIED what the platform does): it then times out.
 */
const rrpc: Action = async (ctx, params) => {
  const productKey = params.require('ProductKey');
  const deviceName = params.require('DeviceName');
  const request = params.require('RequestBase64Byte');
  const timeoutMs = rrpcTimeout(params.require('Timeout'));
  const topic = params.get('Topic');
  const device = ctx.registry.device(productKey, deviceName);
  if (!device) throw notExisted();
  if (topic !== undefined) {
    const levels = topic.split('/');
    const own = levels[0] === '' && levels[1] === productKey && levels[2] === deviceName && levels[3] === 'user';
    if (!own || levels.length < 5 || levels.includes('', 1) || /[+#]/.test(topic))
      throw invalidTopic(`The RRPC topic must be a custom topic of the device: /${productKey}/${deviceName}/user/...`);
  }
  const bytes = base64Bytes(request);
  const answer = await ctx.platform.rrpc(device, bytes, timeoutMs, topic);
  return {
    MessageId: answer.messageId,
    RrpcCode: answer.code,
    ...(answer.code === 'SUCCESS' && { PayloadBase64Byte: answer.replyBase64 ?? '' }),
  };
};

/**
 * `SetDeviceProperty`: asynchronous, `thing/service/property/set` sent and answered at once with
 * its id as `MessageId`. `Items` must be a JSON string of an object. An offline device is refused
 * with `iot.messagebroker.OFFLINE` (UNVERIFIED: the platform may accept the call and drop the message).
 */
const setDeviceProperty: Action = async (ctx, params) => {
  const items = params.require('Items');
  const device = deviceOf(ctx, params);
  const properties = jsonObject('Items', items);
  if (Object.keys(properties).length === 0)
    throw new ActionError('iot.device.NoneDeviceProperties', 'No valid device property is found.');
  refused(refuseProperties(ctx.registry.model(device.productKey), properties));
  if (!device.online) throw offline();
  const sent = await ctx.platform.callThing(device, 'property/set', properties, 0);
  return { Data: { MessageId: sent.id } };
};

/**
 * `InvokeThingService`: a service the TSL declares `callType: "sync"` goes over RRPC (in the form the
 * device's ClientId asked for, emulator/ext-rrpc.ts) and waits 8 s for the reply, whose `data` comes
 * back as `Data.Result` (a JSON string); others are sent on `thing/service/{id}` and answered at
 * once. A product without a TSL: every service asynchronous (UNVERIFIED; the platform always has one).
 * A device's reply with a code other than 200 answers `iot.device.InvokeThingServiceFailed` with
 * that code in the message (UNVERIFIED).
 */
const invokeThingService: Action = async (ctx, params) => {
  const identifier = params.require('Identifier');
  const argsText = params.require('Args');
  const device = deviceOf(ctx, params);
  const model = ctx.registry.model(device.productKey);
  if (!serviceIdOk(model, identifier)) throw bad('The Identifier parameter format is invalid.');
  const args = jsonObject('Args', argsText);
  refused(refuseService(model, identifier, args));
  if (!device.online) throw offline();
  if (model?.services.get(identifier)?.callType !== 'sync') {
    const sent = await ctx.platform.callThing(device, identifier, args, 0);
    return { Data: { MessageId: sent.id } };
  }
  const answer = await ctx.platform.rrpcService(
    device,
    identifier,
    args,
    RRPC_TIMEOUT_MAX_MS,
    usesExtRrpc(ctx, device),
  );
  if (answer.code === 'OFFLINE') throw offline();
  if (answer.code === 'TIMEOUT') throw new ActionError('iot.messagebroker.TIMEOUT', 'Failed because of timeout.');
  const reply = answer.reply;
  if (!isPlainObject(reply))
    throw new ActionError(
      'iot.device.InvokeThingServiceFailed',
      'Failed to invoke the service: the reply is not Alink JSON.',
    );
  if (Number(reply.code) !== 200) {
    const said = typeof reply.message === 'string' ? `: ${reply.message}` : '';
    throw new ActionError(
      'iot.device.InvokeThingServiceFailed',
      `Failed to invoke the service: the device answered code ${String(reply.code)}${said}`,
    );
  }
  return { Data: { Result: JSON.stringify(reply.data ?? {}), MessageId: answer.messageId } };
};

/**
 * `2018-08-06 10:48:41`: the Gmt* fields, in UTC+8 beside the Utc* ones (QueryDeviceDetail's example:
 * `GmtCreate` 10:48:41, `UtcCreate` 02:48:41.000Z; https://help.aliyun.com/document_detail/69594.htm).
 */
function gmt(ms: number): string {
  return new Date(ms + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
}

function statusOf(device: DeviceRecord): string {
  if (device.disabled) return 'DISABLE';
  if (!device.activated) return 'UNACTIVE';
  return device.online ? 'ONLINE' : 'OFFLINE';
}

/**
 * `QueryDeviceDetail`. `DeviceSecret` is in it, as the platform answers it: the caller holds the
 * account's AccessKey. What the emulator does not know is left out: the creation and activation
 * times, the device's IP address, a nickname; `ProductName` is the ProductKey.
 */
const queryDeviceDetail: Action = (ctx, params, call) => {
  const device = deviceOf(ctx, params);
  const online = device.lastConnectAt;
  return {
    Data: {
      IotId: iotIdOf(device),
      ProductKey: device.productKey,
      ProductName: device.productKey,
      DeviceName: device.deviceName,
      DeviceSecret: device.deviceSecret ?? '',
      ...(device.firmware?.default !== undefined && { FirmwareVersion: device.firmware.default }),
      ...(online !== undefined && { GmtOnline: gmt(online), UtcOnline: new Date(online).toISOString() }),
      NodeType: ctx.registry.isGateway(device) ? 1 : 0,
      Owner: true,
      Region: call.regionId ?? 'cn-shanghai',
      Status: statusOf(device),
    },
  };
};

function shadowDevice(ctx: CloudContext, params: Params): DeviceRecord {
  const productKey = params.require('ProductKey');
  const deviceName = params.require('DeviceName');
  const device = ctx.registry.device(productKey, deviceName);
  if (!device) throw notExisted();
  return device;
}

/** `GetDeviceShadow`: the document (`state`, `metadata`, `timestamp`, `version`) as a JSON string. */
const getDeviceShadow: Action = (ctx, params) => {
  const device = shadowDevice(ctx, params);
  const { shadows } = ctx.shadows;
  const doc = shadows.document(device);
  return { ShadowMessage: JSON.stringify({ ...shadows.view(doc), timestamp: doc.timestamp, version: doc.version }) };
};

const shadowError = (code: string, message: string) => new ActionError(`iot.messagebroker.${code}`, message);

/** What `ShadowMessage` asks: `{"method":"update","state":{"desired":{…}},"version":n}`. */
function shadowUpdate(text: string, deltaUpdate: boolean): { desired: SectionChange; version: number } {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    throw shadowError('ShadowMessageIsNotJson', 'Device shadow is not in JSON format.');
  }
  if (!isPlainObject(message)) throw shadowError('ShadowMessageIsNotJson', 'Device shadow is not in JSON format.');
  if (message.method === undefined)
    throw shadowError('NotFoundMethodInShadowMessage', 'method information of device shadow is not found.');
  if (message.method !== 'update')
    throw shadowError('MethodValueIsNotUpdate', 'The method value of device shadow is not update.');
  if (!isPlainObject(message.state))
    throw shadowError('NotFoundStateInShadowMessage', 'state information of device shadow is not found.');
  // `reported` belongs to the device; a cloud write of it is ignored (UNVERIFIED: the platform may refuse it).
  const { desired } = message.state;
  if (desired === undefined)
    throw shadowError('NotFoundDesireInShadowMessage', 'desire information of state of device shadow is not found.');
  let change: SectionChange;
  if (desired === 'null') change = 'clear';
  else if (!isPlainObject(desired))
    throw shadowError(
      'DesireInfoInShadowMessageIsNotJson',
      'desire information of device shadow is not in JSON format.',
    );
  else if (Object.keys(desired).length === 0)
    throw shadowError('DesireValueIsNullInShadowMessage', 'desire information of device shadow cannot be empty.');
  else change = deltaUpdate ? { merge: desired } : { replace: desired };
  const { version } = message;
  if (version === undefined || version === null)
    throw shadowError(
      'NotFoundVersionOrNullVersionValue',
      'version information is not complete or the value of version is empty.',
    );
  if (typeof version !== 'number' || !Number.isInteger(version) || version < -1)
    throw shadowError('InvalidVersionValueInShadowMessage', 'The version value of device shadow is not correct.');
  return { desired: change, version };
}

/**
 * `UpdateDeviceShadow`: writes `desired` and pushes `control` to the device when online, as the
 * private API's POST shadow does (emulator/shadow-api.ts). `version` 0 means no version check, -1
 * resets, otherwise it must exceed the current one. `DeltaUpdate` (`true`/`false`, false by
 * default) merges `desired` into the present one instead of replacing it.
 */
const updateDeviceShadow: Action = async (ctx, params) => {
  const device = shadowDevice(ctx, params);
  const text = params.require('ShadowMessage');
  const delta = params.get('DeltaUpdate') ?? 'false';
  if (delta !== 'true' && delta !== 'false') throw bad('DeltaUpdate must be true or false.');
  const { desired, version } = shadowUpdate(text, delta === 'true');
  const { shadows } = ctx.shadows;
  const current = shadows.document(device).version;
  const result = shadows.write(device, { desired, version: version === 0 ? current + 1 : version });
  if (!result.ok && result.code === 403)
    throw shadowError(
      'InvalidVersionValueInShadowMessage',
      `The version value of device shadow is not correct: ${result.message}`,
    );
  if (!result.ok) throw shadowError('TooManyElementInDesire', 'The total number of desire elements exceeds the limit.');
  await ctx.shadows.pushControl(device);
  return {};
};

export const ACTIONS: Readonly<Record<OpenApiAction, Action>> = {
  Pub: pub,
  RRpc: rrpc,
  SetDeviceProperty: setDeviceProperty,
  InvokeThingService: invokeThingService,
  QueryDeviceDetail: queryDeviceDetail,
  GetDeviceShadow: getDeviceShadow,
  UpdateDeviceShadow: updateDeviceShadow,
};
