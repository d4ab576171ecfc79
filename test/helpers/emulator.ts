// Shared pieces for tests that talk to the emulator with plain mqtt.js and node:https.
import { createHmac } from 'node:crypto';
import { request } from 'node:https';
import { createConnection } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createCertificateAuthority, startEmulator, type Emulator, type EmulatorOptions } from '../../emulator/index';
import type { BrokerAddress } from '../../nodes/lib/endpoint';
import { signMqtt, type SignMethod } from '../../nodes/lib/index';

export type Transport = 'tcp' | 'tls' | 'ws' | 'wss';
export const TRANSPORTS: readonly Transport[] = ['tcp', 'tls', 'ws', 'wss'];

// One CA per test process: issuing it is the slow part of a start.
let sharedCa: ReturnType<typeof createCertificateAuthority> | undefined;

export function start(options: EmulatorOptions = {}): Promise<Emulator> {
  sharedCa ??= createCertificateAuthority();
  return startEmulator({ ca: sharedCa, ...options });
}

export function urlOf(emu: Emulator, transport: Transport): string {
  const { host, ports } = emu;
  switch (transport) {
    case 'tcp':
      return `mqtt://${host}:${ports.mqtt}`;
    case 'tls':
      return `mqtts://${host}:${ports.mqtts}`;
    case 'ws':
      return `ws://${host}:${ports.ws}/mqtt`;
    case 'wss':
      return `wss://${host}:${ports.wss}/mqtt`;
  }
}

/** The same as `urlOf`, as the fields a login's `broker` holds. */
export function brokerOf(emu: Emulator, transport: Transport): BrokerAddress {
  const { host, ports } = emu;
  switch (transport) {
    case 'tcp':
      return { protocol: 'mqtt', host, port: ports.mqtt };
    case 'tls':
      return { protocol: 'mqtts', host, port: ports.mqtts };
    case 'ws':
      return { protocol: 'ws', host, port: ports.ws, path: '/mqtt' };
    case 'wss':
      return { protocol: 'wss', host, port: ports.wss, path: '/mqtt' };
  }
}

export const securemodeOf = (t: Transport): 2 | 3 => (t === 'tls' || t === 'wss' ? 2 : 3);

export interface DeviceLogin {
  productKey: string;
  deviceName: string;
  deviceSecret: string;
  signmethod?: SignMethod;
  clientId?: string;
}

/** Connects, resolving with the client once CONNACK 0 arrives, rejecting with the refusal otherwise. */
export function connectRaw(emu: Emulator, transport: Transport, options: IClientOptions): Promise<MqttClient> {
  const client = mqtt.connect(urlOf(emu, transport), {
    keepalive: 60,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ca: emu.ca,
    ...options,
  });
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      client.end(true);
      reject(err);
    };
    client.once('connect', () => {
      client.off('error', fail);
      client.off('close', closed);
      resolve(client);
    });
    const closed = () => {
      fail(new Error('closed before CONNACK'));
    };
    client.once('error', fail);
    client.once('close', closed);
  });
}

export function connectDevice(
  emu: Emulator,
  transport: Transport,
  login: DeviceLogin,
  extra: IClientOptions = {},
): Promise<MqttClient> {
  const creds = signMqtt({ ...login, securemode: securemodeOf(transport), timestamp: Date.now() });
  return connectRaw(emu, transport, { ...creds, ...extra });
}

/** The CONNACK return code a refused login gets (mqtt.js reports it as the error's code). */
export async function refusalCode(attempt: Promise<MqttClient>): Promise<number | string | undefined> {
  try {
    const client = await attempt;
    await client.endAsync();
    return 0;
  } catch (err) {
    return (err as { code?: number | string }).code;
  }
}

export interface HttpsAnswer {
  status: number;
  body: Record<string, unknown> & { code?: unknown; data?: Record<string, unknown> };
}

export async function https(emu: Emulator, method: string, path: string, body?: string | object): Promise<HttpsAnswer> {
  const answer = await httpsRaw(emu, method, path, { body, timeoutMs: 10_000 });
  return { status: answer.status, body: JSON.parse(answer.text) as HttpsAnswer['body'] };
}

/** The next message on `topic`, or a rejection after `ms`. */
export function nextMessage(
  client: MqttClient,
  topic: string,
  ms = 5000,
): Promise<{ topic: string; payload: Buffer; qos: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`no message on ${topic} within ${ms} ms`));
    }, ms);
    const onMessage = (t: string, payload: Buffer, packet: { qos: number }) => {
      if (t !== topic) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve({ topic: t, payload, qos: packet.qos });
    };
    client.on('message', onMessage);
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` holds (a promise of it: awaited), failing after `ms`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  ms = 5000,
  what: string | (() => string) = 'condition',
): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    // A function describes what it saw at the time out: the state that did not come.
    if (Date.now() > until) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    await sleep(20);
  }
}

/** The same emulator reached at another address: one listening on 0.0.0.0 is reached over loopback. */
export function reachedAt(emu: Emulator, host: string): Emulator {
  return { ...emu, host };
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body as sent, for checks that must see every byte. */
  text: string;
}

/** An HTTPS call with headers of its own, optionally from a given local address (127.0.0.2...). */
export function httpsRaw(
  emu: Emulator,
  method: string,
  path: string,
  options: { body?: string | object; headers?: Record<string, string>; localAddress?: string; timeoutMs?: number } = {},
): Promise<RawAnswer> {
  const { body } = options;
  const form = typeof body === 'string';
  const text = body === undefined ? '' : form ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: emu.host,
        port: emu.ports.https,
        method,
        path,
        ca: emu.ca,
        localAddress: options.localAddress,
        headers: {
          'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json',
          'content-length': Buffer.byteLength(text),
          ...options.headers,
        },
        timeout: options.timeoutMs ?? 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
        });
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

/** An MQTT connection over TCP from a given local address, resolving like connectRaw. */
export function connectTcpFrom(emu: Emulator, localAddress: string, options: IClientOptions): Promise<MqttClient> {
  const client = new mqtt.MqttClient(() => createConnection({ host: emu.host, port: emu.ports.mqtt, localAddress }), {
    keepalive: 60,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 60_000,
    ...options,
  });
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      client.end(true);
      reject(err);
    };
    const closed = () => {
      fail(new Error('closed before CONNACK'));
    };
    client.once('connect', () => {
      client.off('error', fail);
      client.off('close', closed);
      resolve(client);
    });
    client.once('error', fail);
    client.once('close', closed);
  });
}

/**
 * The sub-device signature of PLATFORM.md §11, written here from the rule and not taken from
 * the client: hex HMAC over "clientId..deviceName..productKey..timestamp.." with the sub-device's secret.
 */
export function subDeviceSign(
  hash: 'sha1' | 'sha256' | 'md5',
  sub: { productKey: string; deviceName: string; deviceSecret: string },
  clientId: string,
  timestamp: string | number,
): string {
  const content = `clientId${clientId}deviceName${sub.deviceName}productKey${sub.productKey}timestamp${String(timestamp)}`;
  return createHmac(hash, sub.deviceSecret).update(content).digest('hex');
}

/** Logs a device in over TCP with an HMAC-SHA256 signature made here; `ext` adds pairs (",_ss=1"). */
export function connectSigned(
  emu: Emulator,
  login: { productKey: string; deviceName: string; deviceSecret: string },
  ext = '',
): Promise<MqttClient> {
  const id = `${login.productKey}.${login.deviceName}`;
  const password = createHmac('sha256', login.deviceSecret)
    .update(`clientId${id}deviceName${login.deviceName}productKey${login.productKey}`)
    .digest('hex');
  return connectRaw(emu, 'tcp', {
    clientId: `${id}|securemode=3,signmethod=hmacsha256${ext}|`,
    username: `${login.deviceName}&${login.productKey}`,
    password,
  });
}

/** Subscribes `<topic>_reply`, publishes an Alink request (QoS 0, as the SDKs) and resolves with the parsed reply. */
export async function alinkCall(
  client: MqttClient,
  topic: string,
  body: object | string,
  ms = 5000,
): Promise<Record<string, unknown> & { code?: unknown; data?: unknown }> {
  await client.subscribeAsync(`${topic}_reply`, { qos: 0 });
  const reply = nextMessage(client, `${topic}_reply`, ms);
  await client.publishAsync(topic, typeof body === 'string' ? body : JSON.stringify(body), { qos: 0 });
  return JSON.parse((await reply).payload.toString()) as Record<string, unknown>;
}
