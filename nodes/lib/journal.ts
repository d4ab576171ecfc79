// The disk-backed offline queue: QoS 1 messages a device accepted but the platform has not
// acknowledged, one JSON line each in an append-only file, so they survive a Node-RED restart.
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface JournalEntry {
  id: string;
  topic: string;
  payload: Buffer;
}

/** Rewrite the file once it holds this many lines and mostly settled ones. */
const COMPACT_LINES = 10_000;

export class QueueJournal {
  // Unique across the connections of one device that may briefly share the file during a redeploy.
  private readonly prefix = randomBytes(4).toString('hex');
  private counter = 0;
  private lines = 0;
  private pending = 0;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
  }

  /** What is still unacknowledged, oldest first; the file is rewritten to hold just that. */
  restore(): JournalEntry[] {
    const entries = this.read();
    this.rewrite(entries);
    return entries;
  }

  add(topic: string, payload: Buffer | string): string {
    const id = `${this.prefix}-${String(++this.counter)}`;
    const p = (Buffer.isBuffer(payload) ? payload : Buffer.from(payload)).toString('base64');
    appendFileSync(this.path, `${JSON.stringify({ a: id, t: topic, p })}\n`);
    this.lines++;
    this.pending++;
    return id;
  }

  remove(id: string): void {
    appendFileSync(this.path, `${JSON.stringify({ d: id })}\n`);
    this.lines++;
    this.pending--;
    if (this.lines > COMPACT_LINES && this.lines > 4 * this.pending) this.rewrite(this.read());
  }

  private read(): JournalEntry[] {
    const open = new Map<string, JournalEntry>();
    if (!existsSync(this.path)) return [];
    for (const line of readFileSync(this.path, 'utf8').split('\n')) {
      if (!line) continue;
      let record: { a?: unknown; t?: unknown; p?: unknown; d?: unknown };
      try {
        record = JSON.parse(line) as typeof record;
      } catch {
        // A line torn by a crash mid-write: what it held was never acknowledged to the flow either.
        continue;
      }
      if (typeof record.d === 'string') open.delete(record.d);
      else if (typeof record.a === 'string' && typeof record.t === 'string' && typeof record.p === 'string')
        open.set(record.a, { id: record.a, topic: record.t, payload: Buffer.from(record.p, 'base64') });
    }
    return [...open.values()];
  }

  private rewrite(entries: readonly JournalEntry[]): void {
    const text = entries
      .map((e) => `${JSON.stringify({ a: e.id, t: e.topic, p: e.payload.toString('base64') })}\n`)
      .join('');
    const temp = `${this.path}.tmp`;
    writeFileSync(temp, text);
    renameSync(temp, this.path);
    this.lines = entries.length;
    this.pending = entries.length;
  }
}
