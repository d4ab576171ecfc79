// Durations typed into node dialogs in seconds: blank, zero, negative or not a number means the default.

/** Milliseconds from a node's seconds setting, capped at `maxS`. */
export function millisecondsOf(value: unknown, defaultS: number, maxS = Infinity): number {
  const n = Number(value);
  return (Number.isFinite(n) && n > 0 ? Math.min(n, maxS) : defaultS) * 1000;
}
