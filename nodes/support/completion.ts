// When has a flow finished with a message? Node-RED does not tell the node a message came from,
// but its message hooks see every delivery (`preDeliver`) and every completion (`onComplete`):
// a message whose copies were all delivered and all completed is done with, the end of the flow
// or a Complete node alike. Copies keep the original's `_msgid`, which is what is counted.
import type { NodeAPI } from 'node-red';

interface Hooks {
  add(id: string, callback: (event: unknown) => void): void;
  remove(id: string): void;
}

interface Tracked {
  pending: number;
  finished: () => void;
}

const LABEL = 'aliyunIotCompletion';
const tracked = new Map<string, Tracked>();
let users = 0;

function msgIdOf(event: unknown): string | undefined {
  const id = (event as { msg?: { _msgid?: unknown } } | undefined)?.msg?._msgid;
  return typeof id === 'string' ? id : undefined;
}

/**
 * A delivery or completion can leave the count at 0 while the node that completed is about to
 * send on (its send's deliveries come after its done in some nodes): decided a turn later.
 */
function settleIfIdle(id: string, entry: Tracked): void {
  setImmediate(() => {
    if (tracked.get(id) !== entry || entry.pending > 0) return;
    tracked.delete(id);
    entry.finished();
  });
}

/**
 * Whether the node a copy is delivered to will ever complete it. Node-RED completes a message only
 * when an input handler calls done(); a node whose handlers take no done (written before 1.0, or a
 * test's listener) never does, so its copy counts as finished on arrival rather than holding the
 * delivery until the deadline. Node-RED counts those handlers in `_expectedDoneCount`; a runtime
 * without that count is trusted to complete.
 */
function willComplete(event: unknown): boolean {
  const node = (event as { destination?: { node?: { _expectedDoneCount?: unknown } } }).destination?.node;
  const expected = node?._expectedDoneCount;
  return typeof expected !== 'number' || expected > 0;
}

function hooksOf(RED: NodeAPI): Hooks | undefined {
  const hooks = (RED as unknown as { hooks?: Hooks }).hooks;
  return hooks && typeof hooks.add === 'function' ? hooks : undefined;
}

export interface CompletionTracker {
  /** False on a Node-RED without message hooks (before 2.0): messages count as done when sent. */
  readonly available: boolean;
  /** Calls `finished` once every copy of the message with `msgId` completed; sends it with `send`. */
  track(msgId: string, send: () => void, finished: () => void): void;
  /** The node closes: its tracked messages are forgotten (their deliveries go back to the platform). */
  release(): void;
}

export function completionTracker(RED: NodeAPI): CompletionTracker {
  const hooks = hooksOf(RED);
  const mine = new Set<string>();
  if (hooks) {
    if (users === 0) {
      hooks.add(`preDeliver.${LABEL}`, (event) => {
        const id = msgIdOf(event);
        const entry = id === undefined ? undefined : tracked.get(id);
        if (entry && willComplete(event)) entry.pending += 1;
      });
      hooks.add(`onComplete.${LABEL}`, (event) => {
        const id = msgIdOf(event);
        const entry = id === undefined ? undefined : tracked.get(id);
        if (id === undefined || !entry) return;
        // A catch node's copy completes without a counted delivery: never below zero.
        entry.pending = Math.max(0, entry.pending - 1);
        if (entry.pending === 0) settleIfIdle(id, entry);
      });
    }
    users += 1;
  }
  let released = false;
  return {
    available: hooks !== undefined,
    track(msgId, send, finished) {
      if (!hooks) {
        send();
        finished();
        return;
      }
      const entry: Tracked = { pending: 0, finished };
      tracked.set(msgId, entry);
      mine.add(msgId);
      const finish = entry.finished;
      entry.finished = () => {
        mine.delete(msgId);
        finish();
      };
      send();
      // Sent nowhere (no wires): done at once.
      if (entry.pending === 0) settleIfIdle(msgId, entry);
    },
    release() {
      if (released) return;
      released = true;
      for (const id of mine) tracked.delete(id);
      mine.clear();
      if (!hooks) return;
      users -= 1;
      if (users === 0) {
        hooks.remove(`preDeliver.${LABEL}`);
        hooks.remove(`onComplete.${LABEL}`);
      }
    },
  };
}
