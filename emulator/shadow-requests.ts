// The platform's side of the device shadow over MQTT: requests arrive on `/shadow/update/{pk}/{dn}`
// (get, update and delete alike, at QoS 0 or 1: SDKs differ), every answer and every cloud push
// goes out on `/shadow/get/{pk}/{dn}`. A gateway speaks for its logged-in sub-devices with their
// pk/dn (emulator/sub-device-routing.ts decides that before a request gets here).
//
// Sources (PLATFORM.md §13):
// - DOC:53964 https://help.aliyun.com/document_detail/53964.htm : the topics, the request bodies,
//   the reply `{"method":"reply","payload":{"status":"success","version":N},"timestamp":<s>}`, the
//   error `payload.content.{errorcode,errormessage}`, the get reply with top-level `version`.
// - C SDK 3.x (iotkit-embedded v3.2.0) `shadow_api.h` error codes 400-408; `shadow_update.c` matches a
//   reply to its request by `clientToken`, so it is echoed; `shadow.c` counts 407 as "not an error".
// - Link SDK 4.x `aiot_shadow_api.c` `_shadow_recv_message_handler`: drops a message without
//   `method`, an unsigned integer `timestamp` or `payload`; a reply without `state` needs a
//   `payload.status` under 10 characters; a reply with `state` and a `control` need a top-level `version`.
import {
  isPlainObject,
  shadowNow,
  type SectionChange,
  type ShadowSection,
  type Shadows,
  type ShadowWrite,
} from './shadow';
import type { DeviceRecord } from './registry';

/** The platform's shadow error codes (C SDK 3.x `iotx_shadow_ack_code_t`), sent as strings. */
export const SHADOW_ERRORS = {
  400: 'invalid JSON format',
  401: 'method is missing',
  402: 'state is missing',
  403: 'version is invalid',
  404: 'reported is missing',
  405: 'reported is empty',
  406: 'method is invalid',
  407: 'shadow document is empty',
  408: 'too many attributes',
} as const;
export type ShadowErrorCode = keyof typeof SHADOW_ERRORS;

type Publish = (topic: string, payload: string, qos: 0 | 1) => Promise<void>;
type Answer = Record<string, unknown>;

class ShadowError extends Error {
  constructor(
    readonly code: ShadowErrorCode,
    message: string = SHADOW_ERRORS[code],
  ) {
    super(message);
  }
}

const requestTopic = (d: { productKey: string; deviceName: string }) =>
  `/shadow/update/${d.productKey}/${d.deviceName}`;
export const shadowTopic = (d: { productKey: string; deviceName: string }) =>
  `/shadow/get/${d.productKey}/${d.deviceName}`;

/**
 * What a request asks of one section. The string "null" (not JSON null: every SDK sends the string)
 * clears a section; an object merges (update) or names keys to delete (delete). A delete's values
 * are meant to be "null" and are not checked (UNVERIFIED what the platform does with others).
 */
function sectionChange(method: 'update' | 'delete', section: ShadowSection, value: unknown): SectionChange {
  if (value === 'null') return 'clear';
  if (!isPlainObject(value) || Object.keys(value).length === 0) {
    throw new ShadowError(405, `${section} must be "null" or an object with attributes`);
  }
  return method === 'update' ? { merge: value } : { remove: Object.keys(value) };
}

/**
 * The write an update or delete asks for. `reported` is what the SDKs change; `desired` is accepted
 * the same way (devices clear it with "null" after applying a `control`; the forgiving reading lets
 * a delete name desired keys too). Neither section: 404, as the platform names it "reported missing".
 */
function writeOf(method: 'update' | 'delete', body: Answer): ShadowWrite {
  const state = body.state;
  if (!isPlainObject(state)) throw new ShadowError(402);
  if (state.reported === undefined && state.desired === undefined) throw new ShadowError(404);
  const write: ShadowWrite = { version: typeof body.version === 'number' ? body.version : NaN };
  if (state.reported !== undefined) write.reported = sectionChange(method, 'reported', state.reported);
  if (state.desired !== undefined) write.desired = sectionChange(method, 'desired', state.desired);
  return write;
}

export class ShadowService {
  constructor(
    readonly shadows: Shadows,
    private readonly publish: Publish,
  ) {}

  /** Handles a message on a device's `/shadow/update/...`; false: not a shadow request topic. */
  handle(device: DeviceRecord, topic: string, payload: Buffer, qos: number): boolean {
    if (topic !== requestTopic(device)) return false;
    const answer = this.answer(device, payload);
    // Answered at the request's QoS: the platform delivers with the publisher's QoS (PLATFORM.md §10).
    void this.publish(shadowTopic(device), JSON.stringify(answer), qos === 1 ? 1 : 0).catch(() => undefined);
    return true;
  }

  private answer(device: DeviceRecord, payload: Buffer): Answer {
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      return this.error(new ShadowError(400), undefined);
    }
    if (!isPlainObject(body)) return this.error(new ShadowError(400), undefined);
    try {
      return this.request(device, body);
    } catch (err) {
      if (err instanceof ShadowError) return this.error(err, body.clientToken);
      throw err;
    }
  }

  private request(device: DeviceRecord, body: Answer): Answer {
    const { method } = body;
    if (method === undefined || method === null || method === '') throw new ShadowError(401);
    if (method === 'get') return this.getReply(device, body.clientToken);
    if (method !== 'update' && method !== 'delete') throw new ShadowError(406);
    const result = this.shadows.write(device, writeOf(method, body));
    if (!result.ok) throw new ShadowError(result.code, result.message);
    return this.envelope('reply', { status: 'success', version: result.version }, body.clientToken);
  }

  /**
   * The get reply: `payload.state` and `payload.metadata`, the version at the top level. A shadow with
   * nothing to tell (never written: no attribute, version 0) answers 407 "document empty", as the C
   * SDK 3.x expects of the platform (it takes 407 for success). One emptied by deletes still has a
   * version, which a device needs after a 403, so it answers an empty success.
   */
  private getReply(device: DeviceRecord, clientToken: unknown): Answer {
    const doc = this.shadows.document(device);
    if (this.shadows.isEmpty(doc)) throw new ShadowError(407);
    const view = this.shadows.view(doc);
    return {
      ...this.envelope('reply', { status: 'success', state: view.state, metadata: view.metadata }, clientToken),
      version: doc.version,
    };
  }

  private error(err: ShadowError, clientToken: unknown): Answer {
    const content = { errorcode: String(err.code), errormessage: err.message };
    return this.envelope('reply', { status: 'error', content }, clientToken);
  }

  private envelope(method: 'reply' | 'control', payload: Answer, clientToken?: unknown): Answer {
    return { method, payload, timestamp: shadowNow(), ...(clientToken !== undefined && { clientToken }) };
  }

  /**
   * Pushes the whole shadow as `control` after the cloud changed `desired`, only while the device is
   * online: the platform does not push again at reconnect, the device asks with `get` (DOC:53964).
   * QoS 1, as the device subscribes (DOC:53964 "设备以QoS=1发布消息和订阅"). False: not online.
   */
  async pushControl(device: DeviceRecord): Promise<boolean> {
    if (!device.online) return false;
    const doc = this.shadows.document(device);
    const view = this.shadows.view(doc);
    const control = {
      ...this.envelope('control', { status: 'success', state: view.state, metadata: view.metadata }),
      version: doc.version,
    };
    await this.publish(shadowTopic(device), JSON.stringify(control), 1);
    return true;
  }
}
