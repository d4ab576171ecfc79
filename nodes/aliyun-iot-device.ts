// Config node: a device's triple and where it connects. Validates its settings and leases the
// device's pooled connection, or for a sub-device rides on its gateway's; the connection starts
// when the first flow node uses it.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Node, NodeAPI, NodeDef } from 'node-red';
import type { AliyunIotError, ErrorCode } from './lib/errors';
import type { CredentialStore } from './lib/login';
import { validateDeviceOptions, type DeviceOptions } from './lib/options';
import { DEFAULT_LOGIN_RATE, sharedLoginPace } from './lib/login-pace';
import { deviceKeyOf, sharedPool, type Lease } from './lib/pool';
import { contextCredentialStore } from './support/credential-store';
import { wantsExtRrpc } from './support/custom-rrpc';
import { linkSubDevice } from './support/gateway-link';
import { LOGIN_RATE_SETTING, loginRateOf } from './support/login-rate';
import { linkProduct } from './support/product-link';
import { localize, localizedError } from './support/i18n';
import type { DeviceConfigNode } from './support/device-link';

interface DeviceDef extends NodeDef, Record<string, unknown> {}
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export = function register(RED: NodeAPI): void {
  // Every direct device login of this process waits for the one login pace.
  sharedLoginPace.configure(loginRateOf(RED));
  sharedPool.configure({ tuning: { loginPace: sharedLoginPace } });

  function AliyunIotDevice(this: Mutable<DeviceConfigNode>, def: DeviceDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const users = new Set<string>();
    let lease: Lease | undefined;
    /** A sub-device's gateway, used (so connected) while the sub-device has users. */
    let gateway: DeviceConfigNode | undefined;

    // Read out of `def` here: a closure that kept `def` would keep the whole node definition (about
    // 0.8 KB) for the node's life.
    const secretStore = typeof def.secretStore === 'string' ? def.secretStore : '';

    /** Registration mode, direct or through a gateway: what it obtains is kept in the node's context. */
    function registrationStore(options: DeviceOptions): CredentialStore | undefined {
      if (options.authMode !== 'register') return undefined;
      const kept = contextCredentialStore(RED, node, secretStore);
      if (!kept.persistent) node.warn(localize(RED, 'SECRET_MEMORY_ONLY'));
      return kept.store;
    }

    const ownProductSecret = (node.credentials as { productSecret?: string } | undefined)?.productSecret;
    // A product node gives the ProductKey, the ProductSecret unless the device has one, the thing model.
    const product =
      typeof def.product === 'string' && def.product ? linkProduct(RED, def.product, ownProductSecret) : undefined;
    if (product?.ok) node.model = product.model;
    const result = validateDeviceOptions({
      ...def,
      ...node.credentials,
      ...(product?.ok ? product.settings : {}),
      extRrpc: wantsExtRrpc(RED, node.id),
    });
    if (product && !product.ok) {
      node.problem = product.problem;
      node.error(localize(RED, 'CONFIG_INVALID', { reason: node.problem }));
    } else if (!result.ok) {
      node.problem = result.errors.map((e) => localize(RED, e.code, e.params)).join('; ');
      node.error(localize(RED, 'CONFIG_INVALID', { reason: node.problem }));
    } else if (result.options.gateway) {
      const sub = linkSubDevice(RED, node.id, result.options, registrationStore(result.options));
      if (sub.ok) {
        node.options = result.options;
        node.connection = sub.connection;
        gateway = sub.gateway;
      } else {
        node.problem = sub.problem;
        node.error(localize(RED, 'CONFIG_INVALID', { reason: sub.problem }));
      }
    } else {
      try {
        const credentials = registrationStore(result.options);
        let queuePath;
        if (result.options.persistQueue) {
          const userDir = (RED.settings as unknown as { userDir?: string }).userDir;
          // One file per device, named by a hash: the device's name may hold characters a path cannot.
          const name = createHash('sha256').update(deviceKeyOf(result.options)).digest('hex').slice(0, 16);
          if (userDir) queuePath = join(userDir, 'aliyun-iot', 'queue', `${name}.jsonl`);
          else node.warn(localize(RED, 'QUEUE_NO_USER_DIR'));
        }
        lease = sharedPool.lease(node.id, def.name || node.id, result.options, { credentials, queuePath });
        node.options = result.options;
        node.connection = lease.connection;
      } catch (err) {
        node.problem = localizedError(RED, err).message;
        node.error(node.problem);
      }
    }
    const options: DeviceOptions | undefined = node.options;
    const connection = node.connection;
    const onWarning = (code: ErrorCode, params?: Readonly<Record<string, unknown>>) => {
      node.warn(localize(RED, code, params));
    };
    // HTTPS auth and registration failures: one log line per attempt, localized, with the code.
    const onLoginError = (err: AliyunIotError) => {
      const status = connection?.status;
      const reason = localize(RED, err.code, err.params);
      const seconds = Math.round((status?.nextRetryMs ?? 0) / 1000);
      node.error(localize(RED, 'LOGIN_RETRY', { reason, seconds }));
    };
    connection?.on('warning', onWarning);
    connection?.on('login-error', onLoginError);

    node.use = (user: Node) => {
      users.add(user.id);
      if (users.size !== 1) return;
      gateway?.use(node);
      if (options?.autoConnect) connection?.connect();
    };
    node.unuse = (user: Node) => {
      users.delete(user.id);
    };

    node.on('close', (removed: boolean, done: () => void) => {
      connection?.off('warning', onWarning);
      connection?.off('login-error', onLoginError);
      if (gateway) {
        // The sub-device logs out; the gateway's connection stays with the gateway's config node.
        gateway.unuse(node);
        if (connection) void connection.close().then(done, done);
        else done();
        return;
      }
      if (!lease) return done();
      // A restart with unchanged settings hands the live connection over within the pool's grace.
      lease.release(removed).then(done, done);
    });
  }

  RED.nodes.registerType('aliyun-iot-device', AliyunIotDevice as unknown as (this: Node, def: NodeDef) => void, {
    credentials: { deviceSecret: { type: 'password' }, productSecret: { type: 'password' } },
    settings: { [LOGIN_RATE_SETTING]: { value: DEFAULT_LOGIN_RATE, exportable: false } },
  });
};
