// The reconnect delays: exponential backoff with jitter, and the longer wait after refused logins.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_BACKOFF, retryDelay } from '../../nodes/lib/backoff';

describe('backoff', () => {
  it('doubles from about 1 s to 60 s, with jitter taking at most half', () => {
    const low = (n: number) => retryDelay(n, false, DEFAULT_BACKOFF, () => 1);
    const high = (n: number) => retryDelay(n, false, DEFAULT_BACKOFF, () => 0);
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map(high), [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]);
    assert.equal(low(1), 500);
    assert.equal(high(1000), 60_000);
  });
  it('refused logins wait minutes: never less than 60 s, up to 15 min', () => {
    for (let n = 1; n < 50; n++) {
      const min = retryDelay(n, true, DEFAULT_BACKOFF, () => 1);
      const max = retryDelay(n, true, DEFAULT_BACKOFF, () => 0);
      assert.ok(min >= 60_000 && max <= 15 * 60_000, `${n}: ${min}..${max}`);
    }
  });
});
