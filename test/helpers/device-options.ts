// Device options for tests that build connections directly, validated as the config node does.
import { validateDeviceOptions, type DeviceOptions } from '../../nodes/lib/options';
import type { TestDevice } from './flows';

/** The options as validated, or a throw naming what the validator refused. */
export function validOptions(raw: Record<string, unknown>): DeviceOptions {
  const result = validateDeviceOptions(raw);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.options;
}

/** A direct device on a custom TCP host (broker.test:1883 unless `settings` say otherwise), unpaced. */
export function deviceOptions(device: TestDevice, settings: Record<string, unknown> = {}): DeviceOptions {
  return validOptions({
    ...device,
    endpoint: 'custom',
    host: 'broker.test',
    port: 1883,
    transport: 'tcp',
    rateLimit: 0,
    ...settings,
  });
}
