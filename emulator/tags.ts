// Device tags (设备标签, PLATFORM.md §15.2, DOC:89304 https://help.aliyun.com/document_detail/89304.html):
// a device reports tags on `/sys/{pk}/{dn}/thing/deviceinfo/update` (upsert: "每次上报不会清除上一次的tag")
// and removes them on `.../thing/deviceinfo/delete`; the platform answers on `..._reply`. A gateway
// sends its logged-in sub-devices' tags with their pk/dn on its own connection (§8 item 4): the
// routing (emulator/sub-device-routing.ts) hands this module the sub-device's record then.
// The cloud API shows the tags in `GET /api/devices/{pk}/{dn}` as `tags: {key: value}`.
import { alinkReply, noAck, parseAlink, type AlinkBody } from './alink';
import type { DeviceRecord } from './registry';

/** Items per message (DOC:89304: "The params parameter can contain up to 200 elements"). */
export const TAGS_PER_MESSAGE = 200;
/** attrKey length (DOC:89304; NODE `const.js` comments). */
export const TAG_KEY_MAX = 30;
/** attrValue length, a Chinese character counting as one (DOC:89304): counted in code points. */
export const TAG_VALUE_MAX = 128;

/**
 * Letters, digits and `_ - # @ % & * .` (DOC:89304). UNVERIFIED whether a key must start with a
 * letter: the forgiving reading accepts any of these characters first (the SDKs' own system tags
 * start with a letter: `SYS_SDK_LANGUAGE`). "Letters" read as ASCII letters.
 */
const TAG_KEY = /^[A-Za-z0-9_\-#@%&*.]+$/;

type Publish = (topic: string, payload: string, qos: 0 | 1) => Promise<void>;

/** What a refused request says: the item and the rule it breaks. */
type Refusal = { refused: string };

/** Characters as the platform counts them: a character outside the BMP (a surrogate pair) is one. */
function codePoints(text: string): number {
  return text.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, '_').length;
}

function keyProblem(item: unknown, at: string): string | undefined {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return `${at} must be an object`;
  const key = (item as { attrKey?: unknown }).attrKey;
  if (typeof key !== 'string') return `${at}.attrKey must be a string`;
  if (key.length === 0 || key.length > TAG_KEY_MAX || !TAG_KEY.test(key))
    return `${at}.attrKey must be 1-${TAG_KEY_MAX} characters among letters, digits and _-#@%&*.`;
  return undefined;
}

function listProblem(params: unknown): string | undefined {
  if (!Array.isArray(params) || params.length === 0) return 'params must be a non-empty array';
  if (params.length > TAGS_PER_MESSAGE) return `params has ${params.length} items, at most ${TAGS_PER_MESSAGE}`;
  return undefined;
}

/**
 * The tags an update sets, in order (a key given twice: the last value wins), or what is wrong.
 * `domain` is accepted and not kept: the SDKs send `domain: "SYSTEM"` for their own tags (§5.2).
 * An empty attrValue is accepted (UNVERIFIED: the doc states only the maximum).
 */
export function tagUpdates(params: unknown): Map<string, string> | Refusal {
  const problem = listProblem(params);
  if (problem) return { refused: problem };
  const out = new Map<string, string>();
  for (const [i, item] of (params as unknown[]).entries()) {
    const at = `params[${i}]`;
    const bad = keyProblem(item, at);
    if (bad) return { refused: bad };
    const { attrKey, attrValue } = item as { attrKey: string; attrValue?: unknown };
    if (typeof attrValue !== 'string') return { refused: `${at}.attrValue must be a string` };
    if (codePoints(attrValue) > TAG_VALUE_MAX)
      return { refused: `${at}.attrValue has more than ${TAG_VALUE_MAX} characters` };
    out.set(attrKey, attrValue);
  }
  return out;
}

/** The keys a delete removes, or what is wrong. A key the device does not have is no error. */
export function tagDeletions(params: unknown): string[] | Refusal {
  const problem = listProblem(params);
  if (problem) return { refused: problem };
  const out: string[] = [];
  for (const [i, item] of (params as unknown[]).entries()) {
    const bad = keyProblem(item, `params[${i}]`);
    if (bad) return { refused: bad };
    out.push((item as { attrKey: string }).attrKey);
  }
  return out;
}

export class TagService {
  constructor(
    private readonly publish: Publish,
    /** Called after the tags changed, for the state file. */
    private readonly changed: () => void,
  ) {}

  /** Handles `thing/deviceinfo/update|delete` of this device; false: not a tag topic. */
  handle(device: DeviceRecord, topic: string, payload: Buffer): boolean {
    const base = `/sys/${device.productKey}/${device.deviceName}/thing/deviceinfo/`;
    if (topic !== `${base}update` && topic !== `${base}delete`) return false;
    const body = parseAlink(payload);
    const [code, message] = this.apply(device, topic === `${base}update`, body);
    // `sys.ack: 0` asks for no reply, as for thing-model posts (platform.ts answerPost): only a
    // well-formed request (an object with an id) is taken at its word.
    if (body && (typeof body.id === 'string' || typeof body.id === 'number') && noAck(body)) return true;
    // QoS 0, as the platform's other replies (platform.ts).
    void this.publish(`${topic}_reply`, alinkReply(body, code, message), 0).catch(() => undefined);
    return true;
  }

  /** All or nothing: a refused message changes no tag (460, DOC:89304 "request parameter error"). */
  private apply(device: DeviceRecord, update: boolean, body: AlinkBody | undefined): [number, string] {
    if (!body) return [460, 'request parameter error: the message is not a JSON object'];
    if (typeof body.id !== 'string' && typeof body.id !== 'number')
      return [460, 'request parameter error: id must be a string of digits'];
    if (update) {
      const tags = tagUpdates(body.params);
      if ('refused' in tags) return [460, `request parameter error: ${tags.refused}`];
      for (const [key, value] of tags) device.tags.set(key, value);
    } else {
      const keys = tagDeletions(body.params);
      if ('refused' in keys) return [460, `request parameter error: ${keys.refused}`];
      for (const key of keys) device.tags.delete(key);
    }
    this.changed();
    return [200, 'success'];
  }
}
