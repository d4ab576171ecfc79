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
  /**
   * An append failed (a full disk) and may have left part of its line: the next one starts on a
   * line of its own, or it would merge with the torn one and be unreadable after a restart.
   */
  private torn = false;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
  }

  /**
   * What is still unacknowledged from before this journal (an earlier run, or the connection this
   * one took over from), oldest first. The file is rewritten to hold what is open. Entries this
   * journal added itself (messages published before the first login) are left out: their messages
   * are in the outbox already, and restoring them would send each twice.
   */
  restore(): JournalEntry[] {
    const entries = this.read();
    this.rewrite(entries);
    const own = `${this.prefix}-`;
    return entries.filter((e) => !e.id.startsWith(own));
  }

  add(topic: string, payload: Buffer | string): string {
    const id = `${this.prefix}-${String(++this.counter)}`;
    const p = (Buffer.isBuffer(payload) ? payload : Buffer.from(payload)).toString('base64');
    this.append(`${JSON.stringify({ a: id, t: topic, p })}\n`);
    this.lines++;
    this.pending++;
    return id;
  }

  remove(id: string): void {
    this.append(`${JSON.stringify({ d: id })}\n`);
    this.lines++;
    this.pending--;
    if (this.lines > COMPACT_LINES && this.lines > 4 * this.pending) this.rewrite(this.read());
  }

  private append(line: string): void {
    try {
      appendFileSync(this.path, this.torn ? `\n${line}` : line);
      this.torn = false;
    } catch (err) {
      this.torn = true;
      throw err;
    }
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
    this.torn = false;
    this.lines = entries.length;
    this.pending = entries.length;
  }
}
