#!/usr/bin/env node
// `aliyun-iot-emulator`: runs the local platform until Ctrl-C and prints how to connect to it.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { isWildcardHost } from './access';
import { API_TOKEN_ENV, CLI_DEFAULT_PORTS, parseCliArgs, USAGE, type CliOptions } from './cli-args';
import {
  createCertificateAuthority,
  isLoopbackHost,
  startEmulator,
  type CertificateAuthority,
  type Emulator,
} from './index';

/** The CA is kept so a user trusts it once, not on every start. */
function loadOrCreateCa(dir: string): { ca: CertificateAuthority; caPath: string } {
  const caPath = join(dir, 'ca.pem');
  const keyPath = join(dir, 'ca-key.pem');
  if (existsSync(caPath) && existsSync(keyPath)) {
    return { ca: { cert: readFileSync(caPath, 'utf8'), key: readFileSync(keyPath, 'utf8') }, caPath };
  }
  mkdirSync(dir, { recursive: true });
  const ca = createCertificateAuthority();
  writeFileSync(keyPath, ca.key, { mode: 0o600 });
  writeFileSync(caPath, ca.cert);
  return { ca, caPath };
}

function describe(emulator: Emulator, options: CliOptions, caPath: string): string {
  const { host, ports } = emulator;
  const lines = [
    `Aliyun IoT Platform emulator listening on ${host}`,
    `  MQTT over TCP   mqtt://${host}:${ports.mqtt}        (transport tcp, securemode 3)`,
    `  MQTT over TLS   mqtts://${host}:${ports.mqtts}       (transport tls, securemode 2)`,
    `  MQTT over WS    ws://${host}:${ports.ws}/mqtt     (transport ws, securemode 3)`,
    `  MQTT over WSS   wss://${host}:${ports.wss}/mqtt    (transport wss, securemode 2)`,
    `  HTTPS           https://${host}:${ports.https}       (/auth/devicename, /auth/register/device, /api/devices)`,
    `  Files           https://${host}:${ports.files}       (OTA firmware and remote configuration downloads)`,
    `  AMQP            amqps://${host}:${ports.amqp}       (server-side subscription, TLS, SASL PLAIN with an AccessKey)`,
    ...cloudSide(emulator, options),
    `  CA certificate  ${caPath}   (hand out this file, never ca-key.pem beside it)`,
    ...(emulator.statePath ? [`  State           ${emulator.statePath}`] : []),
    ...apiAccess(emulator, options),
    '',
    // Nobody connects to 0.0.0.0: on every interface, teammates use this machine's name or address.
    'Devices: in the aliyun-iot-device config node set Endpoint = custom, Host = ' +
      (isWildcardHost(host) ? `${hostname()} (or this machine's address)` : host) +
      ',',
    '  the Port of the transport you pick (above), CA = the contents of the CA certificate file,',
    '  and the ProductKey, DeviceName and DeviceSecret you gave here:',
  ];
  const given = new Set(options.devices.map((d) => `${d.productKey}&${d.deviceName}`));
  const devices = emulator.registry.list();
  for (const d of devices) {
    const notes = [
      ...(emulator.registry.isGateway(d) ? ['gateway'] : []),
      ...(given.has(`${d.productKey}&${d.deviceName}`) ? [] : ['kept from an earlier run']),
      ...(d.deviceSecret || d.registrationFree ? [] : ['not activated: register it with the product secret']),
    ];
    lines.push(`  - ${d.productKey} / ${d.deviceName}${notes.length ? `  (${notes.join('; ')})` : ''}`);
  }
  if (devices.length === 0) lines.push('  (none: add some with --device pk:dn:secret)');
  for (const p of options.products) {
    const notes = [
      ...(p.productSecret ? ['dynamic registration enabled'] : []),
      ...(p.nodeType === 'gateway' ? ['gateway'] : []),
      ...(p.tsl !== undefined ? ['thing model (TSL) checked'] : []),
    ];
    if (notes.length) lines.push(`Product ${p.productKey}: ${notes.join(', ')}`);
  }
  lines.push('', 'Press Ctrl-C to stop.');
  return lines.join('\n');
}

/** The cloud side's identities: AccessKey IDs (never their secrets), consumer groups, the instance ID. */
function cloudSide(emulator: Emulator, options: CliOptions): string[] {
  const { accounts } = emulator;
  const ids = options.accounts.map((a) => a.accessKeyId);
  return [
    `                  AccessKeys: ${ids.length ? ids.join(', ') : '(none: add one with --account id:secret)'}`,
    `                  consumer groups: ${accounts.groups().join(', ') || '(none: add one with --consumer-group id)'}`,
    `                  instance ID: ${accounts.iotInstanceId ?? '(none: an old public instance)'}`,
  ];
}

/**
 * How to reach the cloud API. A generated token is the one secret this command prints, once; a
 * token the user chose is never echoed.
 */
function apiAccess(emulator: Emulator, options: CliOptions): string[] {
  if (emulator.apiToken === undefined) return [];
  if (options.apiToken !== undefined) {
    return ['  Cloud API       needs the header "Authorization: Bearer <the token you gave>"'];
  }
  return [
    `  API token       ${emulator.apiToken}`,
    `                  generated for this run, shown only here: send it as "Authorization: Bearer <token>";`,
    `                  keep one across runs with --api-token or ${API_TOKEN_ENV}`,
  ];
}

function openApiWarning(emulator: Emulator): string {
  return [
    '',
    '!!! WARNING: --unsafe-open-api: the cloud API',
    `!!! https://${emulator.host}:${emulator.ports.https}/api/ has no token. Anyone who can reach this port can`,
    '!!! list every device, send it messages and commands, and disconnect it. Do not use this on a',
    '!!! network you do not control; drop --unsafe-open-api to get a token instead.',
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const options = parseCliArgs(process.argv.slice(2), process.env);
  if (options.help) {
    process.stdout.write(USAGE);
    return;
  }
  const dataDir = options.dataDir ?? join(homedir(), '.aliyun-iot-emulator');
  const { ca, caPath } = loadOrCreateCa(dataDir);
  const emulator = await startEmulator({
    host: options.host,
    ports: options.ports,
    devices: options.devices,
    products: options.products,
    rateLimit: options.rateLimit,
    tokenLifetimeMs: options.tokenLifetimeMs,
    apiToken: options.apiToken,
    openApi: options.unsafeOpenApi,
    serverNames: options.serverNames,
    accounts: options.accounts,
    consumerGroups: options.consumerGroups,
    iotInstanceId: options.iotInstanceId,
    dataDir,
    ca,
  }).catch((err: unknown) => {
    const code = (err as { code?: string }).code;
    if (code === 'EADDRINUSE') {
      throw new Error(
        `A port is already in use (${String((err as { port?: number }).port)}); choose others with --mqtt-port, --mqtts-port, --ws-port, --wss-port, --https-port, --files-port, --amqp-port (defaults ${Object.values(CLI_DEFAULT_PORTS).join(', ')})`,
      );
    }
    throw err;
  });
  // Before anything is printed: whoever waits for the output may signal at once.
  const stop = (): void => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    process.stdout.write('Stopping the emulator...\n');
    emulator.close().then(
      () => process.stdout.write('Stopped.\n'),
      (err: unknown) => {
        process.stderr.write(`${String(err)}\n`);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.stdout.write(`${describe(emulator, options, caPath)}\n`);
  if (emulator.apiToken === undefined && !isLoopbackHost(emulator.host)) {
    process.stderr.write(`${openApiWarning(emulator)}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`aliyun-iot-emulator: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
