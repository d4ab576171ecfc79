// Shadow requests as the device SDKs send them, and the checks the Link SDK 4.x parser applies to
// what comes back, written from PLATFORM.md §13 (not from the client).
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { nextMessage } from '../helpers/emulator';

export type Device = { productKey: string; deviceName: string };
export type ShadowMessage = Record<string, unknown> & {
  method?: unknown;
  timestamp?: unknown;
  version?: unknown;
  clientToken?: unknown;
  payload?: Record<string, unknown> & {
    status?: unknown;
    version?: unknown;
    state?: { reported?: Record<string, unknown>; desired?: Record<string, unknown> };
    metadata?: Record<string, Record<string, { timestamp: number }>>;
    content?: { errorcode?: unknown; errormessage?: unknown };
  };
};

export const updateTopic = (d: Device) => `/shadow/update/${d.productKey}/${d.deviceName}`;
export const getTopic = (d: Device) => `/shadow/get/${d.productKey}/${d.deviceName}`;

/**
 * What the Link SDK 4.x (`aiot_shadow_api.c`) needs to accept a downlink: `method`, an unsigned
 * integer `timestamp`, `payload`; a reply without `state` has a `payload.status` under 10
 * characters, one with `state` (a get reply) a top-level `version`; a `control` has `version`.
 */
export function assertLinkSdk4Accepts(message: ShadowMessage): void {
  assert.equal(typeof message.method, 'string', 'method');
  assert.ok(Number.isInteger(message.timestamp) && (message.timestamp as number) >= 0, 'timestamp');
  const raw: unknown = message.payload;
  assert.ok(raw !== null && typeof raw === 'object', 'payload');
  const payload = raw as NonNullable<ShadowMessage['payload']>;
  if (message.method === 'control' || 'state' in payload) {
    assert.ok(Number.isInteger(message.version), 'top-level version');
  } else {
    assert.ok(typeof payload.status === 'string' && payload.status.length < 10, 'payload.status');
  }
  // Seconds, as DOC:53964's 1544686266: a millisecond value would be beyond 1e11.
  assert.ok((message.timestamp as number) < 1e11, 'timestamp in seconds');
}

/** Publishes a request on the update topic and resolves with the answer on the get topic (subscribed already). */
export async function ask(
  client: MqttClient,
  device: Device,
  body: object | string,
  qos: 0 | 1 = 0,
): Promise<ShadowMessage> {
  const answer = nextMessage(client, getTopic(device));
  await client.publishAsync(updateTopic(device), typeof body === 'string' ? body : JSON.stringify(body), { qos });
  const message = JSON.parse((await answer).payload.toString()) as ShadowMessage;
  assertLinkSdk4Accepts(message);
  return message;
}

/** The error code of an error reply, checking its shape; undefined for a success. */
export function errorOf(message: ShadowMessage): string | undefined {
  assert.equal(message.method, 'reply');
  if (message.payload?.status === 'success') return undefined;
  assert.equal(message.payload?.status, 'error');
  assert.equal(typeof message.payload.content?.errormessage, 'string');
  const code = message.payload.content?.errorcode;
  assert.equal(typeof code, 'string', 'errorcode is a string');
  return code as string;
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);
