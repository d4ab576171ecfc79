#!/usr/bin/env node
// `aliyun-iot-emulator`: runs the local platform until Ctrl-C and prints how to connect to it.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CLI_DEFAULT_PORTS, parseCliArgs, USAGE, type CliOptions } from './cli-args';
import { createCertificateAuthority, startEmulator, type CertificateAuthority, type Emulator } from './index';

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
    `  CA certificate  ${caPath}`,
    '',
    'Devices: in the aliyun-iot-device config node set Endpoint = custom, Host = ' + host + ',',
    '  the Port of the transport you pick (above), CA = the contents of the CA certificate file,',
    '  and the ProductKey, DeviceName and DeviceSecret you gave here:',
  ];
  for (const d of options.devices) {
    lines.push(
      `  - ${d.productKey} / ${d.deviceName}${d.deviceSecret ? '' : '  (not activated: register it with the product secret)'}`,
    );
  }
  if (options.devices.length === 0) lines.push('  (none: add some with --device pk:dn:secret)');
  for (const p of options.products) lines.push(`Product ${p.productKey}: dynamic registration enabled`);
  lines.push('', 'Press Ctrl-C to stop.');
  return lines.join('\n');
}

async function main(): Promise<void> {
  const options = parseCliArgs(process.argv.slice(2));
  if (options.help) {
    process.stdout.write(USAGE);
    return;
  }
  const { ca, caPath } = loadOrCreateCa(options.dataDir ?? join(homedir(), '.aliyun-iot-emulator'));
  const emulator = await startEmulator({ ...options, ca }).catch((err: unknown) => {
    const code = (err as { code?: string }).code;
    if (code === 'EADDRINUSE') {
      throw new Error(
        `A port is already in use (${String((err as { port?: number }).port)}); choose others with --mqtt-port, --mqtts-port, --ws-port, --wss-port, --https-port (defaults ${Object.values(CLI_DEFAULT_PORTS).join(', ')})`,
      );
    }
    throw err;
  });
  process.stdout.write(`${describe(emulator, options, caPath)}\n`);
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
}

main().catch((err: unknown) => {
  process.stderr.write(`aliyun-iot-emulator: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
