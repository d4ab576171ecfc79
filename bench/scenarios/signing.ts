// 5. Signing: signatures per second for each method; a sanity line, far from any bottleneck.
import { SIGN_METHODS, signMqtt, type SignMethod } from '../../nodes/lib/sign';
import { measure, type Figure } from '../lib/stats';

export async function signing(count: number, rounds: number): Promise<Record<SignMethod, Figure>> {
  const out = {} as Record<SignMethod, Figure>;
  for (const signmethod of SIGN_METHODS) {
    out[signmethod] = await measure(rounds, () => {
      const t0 = performance.now();
      for (let i = 0; i < count; i++) {
        signMqtt({
          productKey: 'a1B2c3D4e5F',
          deviceName: 'device-01',
          deviceSecret: 'secret',
          signmethod,
          securemode: 2,
          timestamp: i,
        });
      }
      return Promise.resolve(count / ((performance.now() - t0) / 1000));
    });
  }
  return out;
}
