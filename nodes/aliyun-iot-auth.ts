// Hands out login credentials (signed, HTTPS token, or by dynamic registration) for the config
// node's device or for msg.device, e.g. for the core mqtt nodes or a gateway's sub-devices.
import type { Node, NodeAPI, NodeDef } from 'node-red';
import { AUTH_MODES, deviceCredentials, type AuthMode } from './lib/device-credentials';
import { DEFAULTS, validateDeviceOptions, type DeviceOptions } from './lib/options';
import type { DeviceConfigNode } from './support/device-link';
import { codedError, describeValue, localize, localizedError } from './support/i18n';
import { problemStatus } from './support/status';

interface AuthDef extends NodeDef {
  device?: string;
  mode?: string;
}

/** Settings msg.device may not inherit from the config node: they name or unlock another device. */
const IDENTITY = ['productKey', 'deviceName', 'deviceSecret', 'productSecret', 'clientId'] as const;
const SECRETS = ['deviceSecret', 'productSecret'];

function withoutKeys(source: object, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(source).filter(([key]) => !keys.includes(key)));
}

export = function register(RED: NodeAPI): void {
  function AliyunIotAuth(this: Node, def: AuthDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const mode = (def.mode || DEFAULTS.authMode) as AuthMode;
    const config = def.device ? (RED.nodes.getNode(def.device) as DeviceConfigNode | null) : null;

    /** The device's settings for this message, or the localized reason why there are none. */
    function settingsFor(device: unknown): { options: DeviceOptions } | { error: Error } {
      if (!AUTH_MODES.includes(mode)) return { error: codedError(RED, 'MODE_UNKNOWN', { value: mode }) };
      const given = device !== undefined && device !== null;
      if (given && (typeof device !== 'object' || Array.isArray(device)))
        return { error: codedError(RED, 'DEVICE_INVALID', { reason: describeValue(device) }) };
      if (!given && !config) return { error: codedError(RED, 'CONFIG_MISSING') };
      // A broken config node is reported, not silently replaced by the defaults.
      if (config && !config.options)
        return { error: codedError(RED, 'CONFIG_INVALID', { reason: config.problem ?? '' }) };
      const base = config?.options ?? {};
      const raw = given ? { ...withoutKeys(base, IDENTITY), ...device } : base;
      const result = validateDeviceOptions({ ...raw, authMode: mode });
      if (result.ok) return { options: result.options };
      const reason = result.errors.map((e) => localize(RED, e.code, e.params)).join('; ');
      return { error: codedError(RED, given ? 'DEVICE_INVALID' : 'CONFIG_INVALID', { reason }) };
    }

    node.on('input', (msg, send, done) => {
      const device = (msg as { device?: unknown }).device;
      const settings = settingsFor(device);
      if ('error' in settings) {
        node.status(problemStatus(settings.error.message));
        return done(settings.error);
      }
      deviceCredentials(settings.options, mode).then(
        (payload) => {
          node.status({});
          const out: Record<string, unknown> = { ...msg, payload };
          // The secrets given in msg.device stay out of the output.
          if (device && typeof device === 'object') out.device = withoutKeys(device, SECRETS);
          send(out);
          done();
        },
        (err: unknown) => {
          const error = localizedError(RED, err);
          node.status(problemStatus(error.message));
          done(error);
        },
      );
    });
  }

  RED.nodes.registerType('aliyun-iot-auth', AliyunIotAuth);
};
