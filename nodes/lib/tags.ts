// Device tags (设备标签, PLATFORM.md §15.2): `thing/deviceinfo/update` (an upsert) and
// `thing/deviceinfo/delete`, checked against the platform's rules before they leave and matched
// to their replies by id.
import { AlinkIds, PendingReplies, replyError, type AlinkReply, type DeviceRef, parseReply } from './alink';
import type { DeviceChannel, SubscriptionHandle } from './connection';
import { AliyunIotError, type Problem } from './errors';
import { perConnection } from './shared-subscription';

export const MAX_TAGS = 200;
export const MAX_TAG_KEY = 30;
export const MAX_TAG_VALUE = 128;
const TAG_KEY = /^[A-Za-z0-9_\-#@%&*.]+$/;
export const TAGS_TIMEOUT_MS = 10_000;

const base = ({ productKey, deviceName }: DeviceRef) => `/sys/${productKey}/${deviceName}/thing/deviceinfo`;
export const tagTopics = {
  update: (d: DeviceRef) => `${base(d)}/update`,
  delete: (d: DeviceRef) => `${base(d)}/delete`,
};

export interface Tag {
  attrKey: string;
  attrValue: string;
}

const problem = (reason: string): Problem => ({ code: 'TAGS_INVALID', params: { reason } });

function keyProblem(key: unknown): string | undefined {
  if (typeof key !== 'string' || key === '') return 'a tag key is empty';
  if (key.length > MAX_TAG_KEY) return `tag key ${key.slice(0, 40)} is longer than ${MAX_TAG_KEY} characters`;
  if (!TAG_KEY.test(key)) return `tag key ${key} may hold only letters, digits and _ - # @ % & * .`;
  return undefined;
}

/**
 * Tags to update from `{key: value}` or `[{attrKey, attrValue}]`; numbers and booleans become text
 * (the platform stores text), anything else is refused. Characters count as the platform counts
 * them: a Chinese character is one.
 */
export function tagsToUpdate(input: unknown): Tag[] | Problem {
  const entries: [unknown, unknown][] = Array.isArray(input)
    ? input.map((t: unknown) => {
        const tag = (t ?? {}) as { attrKey?: unknown; attrValue?: unknown };
        return [tag.attrKey, tag.attrValue];
      })
    : input !== null && typeof input === 'object'
      ? Object.entries(input)
      : [];
  if (entries.length === 0) return problem('give tags as {key: value} or [{attrKey, attrValue}]');
  if (entries.length > MAX_TAGS) return problem(`${entries.length} tags, at most ${MAX_TAGS} per message`);
  const tags: Tag[] = [];
  for (const [key, value] of entries) {
    const bad = keyProblem(key);
    if (bad) return problem(bad);
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')
      return problem(`tag ${String(key)} has no text value`);
    const text = String(value);
    // Characters as the platform counts them (a Chinese character is one): code points.
    if (Array.from(text).length > MAX_TAG_VALUE)
      return problem(`tag ${String(key)}'s value is longer than ${MAX_TAG_VALUE} characters`);
    tags.push({ attrKey: key as string, attrValue: text });
  }
  return tags;
}

/** Keys to delete from a key, a list of keys, or `{key: anything}`. */
export function tagsToDelete(input: unknown): { attrKey: string }[] | Problem {
  const keys =
    typeof input === 'string'
      ? [input]
      : Array.isArray(input)
        ? input
        : input && typeof input === 'object'
          ? Object.keys(input)
          : [];
  if (keys.length === 0) return problem('give a tag key, a list of keys or an object whose keys go');
  if (keys.length > MAX_TAGS) return problem(`${keys.length} tags, at most ${MAX_TAGS} per message`);
  for (const key of keys) {
    const bad = keyProblem(key);
    if (bad) return problem(bad);
  }
  return (keys as string[]).map((attrKey) => ({ attrKey }));
}

export const isProblem = (v: unknown): v is Problem =>
  v !== null && typeof v === 'object' && 'code' in v && 'params' in v;

/** Sends tag changes of one device and waits for the platform's answer. */
export class TagsClient {
  private readonly ids = new AlinkIds();
  private readonly pending = new PendingReplies();
  private handles: SubscriptionHandle[] = [];
  private users = 0;

  constructor(
    private readonly connection: DeviceChannel,
    private readonly timeoutMs = TAGS_TIMEOUT_MS,
  ) {}

  attach(): () => void {
    if (this.users++ === 0) {
      const d = this.connection.options;
      this.handles = [tagTopics.update(d), tagTopics.delete(d)].map((topic) =>
        this.connection.subscribe(`${topic}_reply`, 0, ({ payload }) => {
          const reply = parseReply(payload);
          if (reply) this.pending.settle(reply);
        }),
      );
    }
    let attached = true;
    return () => {
      if (!attached) return;
      attached = false;
      if (--this.users > 0) return;
      for (const handle of this.handles) handle.close(false);
      this.handles = [];
      this.pending.failAll(new AliyunIotError('CONNECTION_CLOSED'));
    };
  }

  update(tags: Tag[]): Promise<AlinkReply> {
    return this.send(tagTopics.update(this.connection.options), 'thing.deviceinfo.update', tags);
  }

  delete(keys: { attrKey: string }[]): Promise<AlinkReply> {
    return this.send(tagTopics.delete(this.connection.options), 'thing.deviceinfo.delete', keys);
  }

  private async send(topic: string, method: string, params: unknown): Promise<AlinkReply> {
    const id = this.ids.next();
    const answer = this.pending.expect(id);
    const body = JSON.stringify({ id, version: '1.0', params, method });
    this.connection.publish(topic, body, 1, (err) =>
      err ? this.pending.fail(id, err) : this.pending.arm(id, this.timeoutMs),
    );
    const reply = await answer;
    const refused = replyError(reply);
    if (refused) throw new AliyunIotError('TAGS_REFUSED', refused.params, reply.code);
    return reply;
  }
}

export const tagsClientOf = perConnection((connection) => new TagsClient(connection));
