// The flows in examples/ as a user imports them, pointed at a test's emulator: its ports instead of
// the CLI defaults, and its CA pasted into TLS config nodes as the examples' comments ask.
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
