// Shared steps of the tags, lifecycle, raw and ext-rrpc tests, written from the platform's rules
// (PLATFORM.md §11), not from the client.
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { alinkCall, subDeviceSign } from '../helpers/emulator';

export type Login = { productKey: string; deviceName: string; deviceSecret: string };

export const sysOf = (d: { productKey: string; deviceName: string }) => `/sys/${d.productKey}/${d.deviceName}`;
export const apiOf = (d: { productKey: string; deviceName: string }) => `/api/devices/${d.productKey}/${d.deviceName}`;
export const json = (m: { payload: Buffer }) => JSON.parse(m.payload.toString()) as Record<string, unknown>;

/** Adds `sub` to the gateway's topology and logs it in through the gateway's connection. */
export async function bindAndLogin(gateway: MqttClient, gw: Login, sub: Login): Promise<void> {
  const clientId = `${sub.productKey}.${sub.deviceName}`;
  const timestamp = String(Date.now());
  const signed = {
    productKey: sub.productKey,
    deviceName: sub.deviceName,
    clientId,
    timestamp,
    signmethod: 'hmacSha256',
    sign: subDeviceSign('sha256', sub, clientId, timestamp),
  };
  const add = await alinkCall(gateway, `${sysOf(gw)}/thing/topo/add`, { id: '1', params: [signed] });
  assert.equal(add.code, 200, JSON.stringify(add));
  const login = `/ext/session/${gw.productKey}/${gw.deviceName}/combine/login`;
  const reply = await alinkCall(gateway, login, { id: '2', params: { ...signed, signMethod: 'hmacSha256' } });
  assert.equal(reply.code, 200, JSON.stringify(reply));
}

/** Every message the client receives on `topic` from now on. */
export function collect(client: MqttClient, topic: string): { payload: Buffer; qos: number }[] {
  const seen: { payload: Buffer; qos: number }[] = [];
  client.on('message', (t: string, payload: Buffer, packet: { qos: number }) => {
    if (t === topic) seen.push({ payload, qos: packet.qos });
  });
  return seen;
}
