// Secret scanning after node tests: every secret in use (the credentials the flows were loaded with,
// AccessKey secrets included, and what the emulator holds or handed out) must be absent from logs, statuses, warnings, errors,
// every node's output but the auth node's, and the flows as Node-RED would export them.
import type { Emulator } from '../../emulator/index';
import helper from 'node-red-node-test-helper';
import { deployedFlows, prototypeSpyCalls } from './red-internals';

/** Shorter strings ("wrong", "x") would match ordinary words. */
const MIN_SECRET_LENGTH = 8;
const loadedSecrets = new Set<string>();

/** Remembers the credential values of a load or deploy. */
export function rememberCredentials(credentials: unknown): void {
  if (!credentials || typeof credentials !== 'object') return;
  for (const perNode of Object.values(credentials as Record<string, unknown>)) {
    if (!perNode || typeof perNode !== 'object') continue;
    for (const value of Object.values(perNode as Record<string, unknown>))
      if (typeof value === 'string' && value.length >= MIN_SECRET_LENGTH) loadedSecrets.add(value);
  }
}

function text(value: unknown): string {
  if (value instanceof Error) return `${value.message} ${JSON.stringify(value)}`;
  try {
    if (typeof value === 'string') return value;
    // undefined and functions have no JSON text.
    return value === undefined || typeof value === 'function' || typeof value === 'symbol'
      ? String(value)
      : JSON.stringify(value);
  } catch {
    return String(value);
  }
}

/** What users and exports can see of the current flows. */
function visibleTexts(): string[] {
  const out: string[] = [];
  // After helper.unload() the spies are gone: a test that unloads by itself scans before that.
  for (const method of ['status', 'warn', 'error', 'log'] as const) {
    for (const call of prototypeSpyCalls(method)) out.push(text(call.args[0]));
  }
  // Every node's output (connect states, commands, shadow, OTA, configuration, tags...) except the
  // auth node's, which hands out credentials by design.
  for (const call of prototypeSpyCalls('send'))
    if (call.thisValue.type !== 'aliyun-iot-auth') out.push(text(call.args[0]));
  const log = helper.log() as Partial<ReturnType<typeof helper.log>> | undefined;
  for (const args of log?.args ?? []) out.push(text(args[0]));
  out.push(text(deployedFlows()));
  return out;
}

/** Secrets found in what the tests' flows showed; empty when nothing leaked. */
export function leakedSecrets(emu?: Emulator): string[] {
  const secrets = new Set(loadedSecrets);
  const held = [...(emu?.registry.secrets() ?? []), ...(emu?.accounts.secrets() ?? [])];
  for (const s of held) if (s.length >= MIN_SECRET_LENGTH) secrets.add(s);
  const texts = visibleTexts();
  return [...secrets].filter((secret) => texts.some((t) => t.includes(secret)));
}
