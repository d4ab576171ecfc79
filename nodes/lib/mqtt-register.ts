// Dynamic registration over MQTT (PLATFORM.md §5): one short TLS session whose CONNECT carries the
// product's signature; the platform pushes the result on /ext/register or /ext/regnwl and hangs up.
import { randomBytes } from 'node:crypto';
import { connect as mqttConnect } from 'mqtt';
import { MqttSession } from './connection/mqtt-session';
import type { RegisteredDevice } from './device-auth';
import { resolveEndpoint } from './endpoint';
import { AliyunIotError } from './errors';
import type { DeviceOptions } from './options';
import { parseJsonObject } from './payload';
import { signRegister } from './sign';

export const REGISTER_TIMEOUT_MS = 15_000;

/** What registration-free (`regnwl`) registration yields: log in later with `authType=connwl`. */
export interface RegistrationFreeCredentials {
  productKey: string;
  deviceName: string;
  clientId: string;
  deviceToken: string;
}

type Kind = 'register' | 'regnwl';

function connectFields(options: DeviceOptions, kind: Kind) {
  const { random, sign } = signRegister({ ...options, random: randomBytes(8).toString('hex') });
  const ext = [
    `securemode=${kind === 'register' ? 2 : -2}`,
    `authType=${kind}`,
    `random=${random}`,
    `signmethod=${options.signmethod}`,
  ];
  if (options.endpoint === 'instance') ext.push(`instanceId=${options.instanceId}`);
  return {
    clientId: `${options.clientId}|${ext.join(',')}|`,
    username: `${options.deviceName}&${options.productKey}`,
    password: sign,
  };
}

/**
 * The platform's push on /ext/register or /ext/regnwl. The documented regnwl result is only
 * `{clientId, deviceToken}` (PLATFORM.md §5): a result without productKey/deviceName is for the
 * device that asked.
 */
export function parseRegistrationResult(
  kind: Kind,
  payload: Buffer,
  asked: { productKey: string; deviceName: string },
): RegisteredDevice | RegistrationFreeCredentials | undefined {
  const value = parseJsonObject(payload);
  if (!value) return undefined;
  const text = (key: string) => (typeof value[key] === 'string' && value[key] !== '' ? value[key] : undefined);
  const productKey = text('productKey') ?? asked.productKey;
  const deviceName = text('deviceName') ?? asked.deviceName;
  if (kind === 'register') {
    const deviceSecret = text('deviceSecret');
    return deviceSecret ? { productKey, deviceName, deviceSecret } : undefined;
  }
  const clientId = text('clientId');
  const deviceToken = text('deviceToken');
  return clientId && deviceToken ? { productKey, deviceName, clientId, deviceToken } : undefined;
}

export function registerOverMqtt(
  options: DeviceOptions,
  kind: 'register',
  timeoutMs?: number,
): Promise<RegisteredDevice>;
export function registerOverMqtt(
  options: DeviceOptions,
  kind: 'regnwl',
  timeoutMs?: number,
): Promise<RegistrationFreeCredentials>;
export function registerOverMqtt(
  options: DeviceOptions,
  kind: Kind,
  timeoutMs = REGISTER_TIMEOUT_MS,
): Promise<RegisteredDevice | RegistrationFreeCredentials> {
  const endpoint = resolveEndpoint({ ...options, transport: 'tls' });
  const topic = kind === 'register' ? '/ext/register' : '/ext/regnwl';
  return new Promise((resolve, reject) => {
    let refusedCode: number | undefined;
    let failure: string | undefined;
    let settled = false;
    const timer = setTimeout(
      () => finish(new AliyunIotError('REGISTER_TIMEOUT', { seconds: timeoutMs / 1000 })),
      timeoutMs,
    );
    const session = new MqttSession(
      mqttConnect,
      endpoint,
      {
        ...connectFields(options, kind),
        clean: true,
        keepalive: 60,
        connectTimeout: timeoutMs,
        ca: [...(endpoint.ca ?? [])],
        rejectUnauthorized: options.rejectUnauthorized,
        servername: options.servername || undefined,
      },
      {
        message: (received, payload) => {
          if (received !== topic) return;
          const result = parseRegistrationResult(kind, payload, options);
          finish(result ?? new AliyunIotError('AUTH_ANSWER_INVALID', { field: topic }));
        },
        error: (err) => {
          if (typeof err.code === 'number') refusedCode = err.code;
          else failure = err.message;
        },
        close: () => {
          if (refusedCode !== undefined)
            finish(new AliyunIotError('REGISTER_REFUSED', { code: refusedCode }, refusedCode));
          else finish(new AliyunIotError('REGISTER_NO_ANSWER', { reason: failure ?? 'connection closed' }));
        },
      },
    );
    function finish(outcome: Error | RegisteredDevice | RegistrationFreeCredentials): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.drop();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    }
  });
}
