// The Alink JSON envelope as the platform reads and answers it (PLATFORM.md §10), for the
// device requests of tags, disable/enable/delete notices and the like.

export type AlinkBody = Record<string, unknown> & { id?: unknown; params?: unknown; sys?: unknown };

/** The message as a JSON object; undefined when it is not one (bytes, an array, a number...). */
export function parseAlink(payload: Buffer): AlinkBody | undefined {
  try {
    const body: unknown = JSON.parse(payload.toString('utf8'));
    return body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as AlinkBody) : undefined;
  } catch {
    return undefined;
  }
}

/** The request's id verbatim with its JSON type (§0.2: digit strings, numbers, the Node SDK's "5|exp-topic|..."). */
export function idOf(body: AlinkBody | undefined): string | number | null {
  return typeof body?.id === 'string' || typeof body?.id === 'number' ? body.id : null;
}

/** `sys.ack: 0` asks the cloud not to reply (DOC:89299; absent: a reply is sent). */
export function noAck(body: AlinkBody | undefined): boolean {
  const sys = body?.sys;
  return sys !== null && typeof sys === 'object' && (sys as { ack?: unknown }).ack === 0;
}

/**
 * The reply every SDK can parse (§0.2, §8 item 2): `id` echoed, always `code`, `data` and `message`
 * (the C SDK drops a reply without `data`, the Python SDK one without `message`).
 */
export function alinkReply(body: AlinkBody | undefined, code: number, message: string): string {
  return JSON.stringify({ id: idOf(body), code, data: {}, message, version: '1.0' });
}

/** A cloud → device request id: digits, 1 to 4294967295 (DOC:89300), per sender. */
export class AlinkIds {
  private next = 1;
  id(): string {
    const id = this.next;
    this.next = id >= 4294967295 ? 1 : id + 1;
    return String(id);
  }
}
