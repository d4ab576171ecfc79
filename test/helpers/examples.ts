// The flows in examples/ as a user imports them, pointed at a test's emulator: its ports instead of
// the CLI defaults, and its CA pasted into TLS config nodes and account nodes as the examples' comments ask.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Emulator } from '../../emulator/index';
import { CLI_DEFAULT_PORTS } from '../../emulator/cli-args';

export type FlowNode = Record<string, unknown> & { id: string; type: string; credentials?: Record<string, string> };

const PORT_KEYS = { tcp: 'mqtt', tls: 'mqtts' } as const;

export function readExample(name: string, emu: Emulator): FlowNode[] {
  const path = join(__dirname, '..', '..', 'examples', `${name}.json`);
  const flow = JSON.parse(readFileSync(path, 'utf8')) as FlowNode[];
  for (const node of flow) {
    if (node.type === 'aliyun-iot-account') {
      pointAccount(node, emu);
      continue;
    }
    // Sub-devices ride on their gateway's connection: they have no port of their own.
    if (node.type !== 'aliyun-iot-device' || node.gateway) continue;
    const key = PORT_KEYS[node.transport as keyof typeof PORT_KEYS];
    assert.equal(node.port, String(CLI_DEFAULT_PORTS[key]), 'examples use the emulator CLI default ports');
    node.port = String(emu.ports[key]);
    if (node.authHost) {
      assert.equal(node.authHost, `127.0.0.1:${CLI_DEFAULT_PORTS.https}`);
      node.authHost = `${emu.host}:${emu.ports.https}`;
    }
    if (node.transport === 'tls') node.ca = emu.ca;
  }
  return flow;
}

/** An account node set up for `npx aliyun-iot-emulator --demo`: its OpenAPI, its AMQP port and its CA. */
function pointAccount(node: FlowNode, emu: Emulator): void {
  assert.equal(
    node.apiUrl,
    `https://127.0.0.1:${CLI_DEFAULT_PORTS.https}/`,
    'examples use the emulator CLI default ports',
  );
  assert.equal(node.amqpHost, '127.0.0.1');
  assert.equal(node.amqpPort, String(CLI_DEFAULT_PORTS.amqp), 'examples use the emulator CLI default ports');
  // The CA is the one field the comments ask the user to fill in.
  assert.equal(node.ca, '');
  node.apiUrl = `https://${emu.host}:${emu.ports.https}/`;
  node.amqpHost = emu.host;
  node.amqpPort = String(emu.ports.amqp);
  node.ca = emu.ca;
}
