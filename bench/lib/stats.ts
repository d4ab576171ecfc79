// Rounds, medians and spreads: these machines are noisy, so every figure is a median of rounds.

export interface Figure {
  median: number;
  min: number;
  max: number;
  /** (max - min) / median. */
  spread: number;
  rounds: number[];
}

export function figure(rounds: number[]): Figure {
  const sorted = [...rounds].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const min = sorted[0] ?? 0;
  const max = sorted.at(-1) ?? 0;
  return { median, min, max, spread: median ? (max - min) / median : 0, rounds };
}

export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** One warm-up, then `rounds` measured runs. */
export async function measure(rounds: number, run: () => Promise<number>): Promise<Figure> {
  await run();
  const out: number[] = [];
  for (let i = 0; i < rounds; i++) out.push(await run());
  return figure(out);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}
