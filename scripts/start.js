#!/usr/bin/env node
// `npm start`: the emulator with a demo device, and a real Node-RED on 127.0.0.1:1880 that loads
// this package with a demo flow. Ctrl-C stops both.
'use strict';
const { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { execFileSync } = require('node:child_process');
const nr = require('./node-red-process');
const { demoFlow } = require('./demo-flow');

const USAGE = `Usage: npm start -- [--port 1880] [--mqtt-port 11883] [--mqtts-port 18883] [--ws-port 18080] [--wss-port 18443] [--https-port 18444] [--files-port 18445] [--amqp-port 15671] [--reset] [--user-dir dir]
  --port        the Node-RED editor port
  --*-port      the emulator's ports (see the emulator CLI)
  --reset       deploy the demo flow again, replacing what the editor saved
  --user-dir    the Node-RED user directory (default .node-red-user in the repository)
`;

function parse(argv) {
  const out = {
    port: 1880,
    ports: { mqtt: 11883, mqtts: 18883, ws: 18080, wss: 18443, https: 18444, files: 18445, amqp: 15671 },
    reset: false,
    userDir: join(nr.root, '.node-red-user'),
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--reset') out.reset = true;
    else if (flag === '--user-dir') out.userDir = argv[++i];
    else if (flag === '--help' || flag === '-h') out.help = true;
    else {
      const value = Number(argv[++i]);
      if (!Number.isInteger(value) || value < 1 || value > 65535) throw new Error(`${flag} needs a port number`);
      if (flag === '--port') out.port = value;
      else if (/^--(mqtt|mqtts|ws|wss|https|files|amqp)-port$/.test(flag)) out.ports[flag.slice(2, -5)] = value;
      else throw new Error(`Unknown option ${flag}\n${USAGE}`);
    }
  }
  return out;
}

function newestMtime(dir) {
  return readdirSync(dir, { withFileTypes: true }).reduce((max, e) => {
    const full = join(dir, e.name);
    return Math.max(max, e.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }, 0);
}

function buildIfNeeded() {
  const built = join(nr.root, 'dist', 'nodes', 'lib', 'index.js');
  const sources = ['nodes', 'emulator', 'locales', 'icons'].map((d) => newestMtime(join(nr.root, d)));
  if (existsSync(built) && statSync(built).mtimeMs >= Math.max(...sources)) return;
  console.log('Building...');
  execFileSync(process.execPath, [join(__dirname, 'build.js')], { stdio: 'inherit' });
}

async function main() {
  const options = parse(process.argv.slice(2));
  if (options.help) return void process.stdout.write(USAGE);
  buildIfNeeded();
  const checks = [['--port', options.port], ...Object.entries(options.ports).map(([k, v]) => [`--${k}-port`, v])];
  for (const [flag, port] of checks) {
    await nr.assertPortFree(port).catch(() => {
      throw new Error(`Port ${port} is in use. Choose another with ${flag} <port> (npm start -- ${flag} <port>).`);
    });
  }

  const userDir = options.userDir;
  mkdirSync(join(userDir, 'emulator'), { recursive: true });
  nr.linkedUserDir(userDir);
  nr.writeSettings(userDir, { port: options.port, credentialSecret: 'aliyun-iot-demo' });

  const { startEmulator, createCertificateAuthority } = require('../dist/emulator/index.js');
  const {
    DEMO_ACCOUNT,
    DEMO_CONSUMER_GROUP,
    DEMO_DEVICE,
    DEMO_PRODUCT,
    DEMO_TSL,
  } = require('../dist/emulator/cli-args.js');
  const caPath = join(userDir, 'emulator', 'ca.pem');
  const keyPath = join(userDir, 'emulator', 'ca-key.pem');
  const ca =
    existsSync(caPath) && existsSync(keyPath)
      ? { cert: require('node:fs').readFileSync(caPath, 'utf8'), key: require('node:fs').readFileSync(keyPath, 'utf8') }
      : createCertificateAuthority();
  writeFileSync(caPath, ca.cert);
  writeFileSync(keyPath, ca.key, { mode: 0o600 });
  const emulator = await startEmulator({
    devices: [DEMO_DEVICE],
    products: [{ ...DEMO_PRODUCT, tsl: DEMO_TSL }],
    // The cloud side of the demo flow: its account node's AccessKey and its amqp-in node's group.
    accounts: [DEMO_ACCOUNT],
    consumerGroups: [DEMO_CONSUMER_GROUP],
    ports: options.ports,
    ca,
  });

  const firstRun = !existsSync(join(userDir, 'flows.json'));
  const nodeRed = nr.startNodeRed({ userDir, port: options.port });
  nodeRed.child.stdout.on('data', (d) => process.stdout.write(d));
  nodeRed.child.stderr.on('data', (d) => process.stderr.write(d));
  let stopping = false;
  const stop = async (code = 0) => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping Node-RED and the emulator...');
    await nodeRed.stop();
    await emulator.close();
    process.exitCode = code;
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  nodeRed.exited.then(() => void stop(stopping ? 0 : 1));

  await nodeRed.ready;
  if (firstRun || options.reset) {
    await nr.deployFlows(
      nodeRed.url,
      demoFlow({
        host: emulator.host,
        ports: emulator.ports,
        caPem: emulator.ca,
        account: DEMO_ACCOUNT,
        consumerGroupId: DEMO_CONSUMER_GROUP.id,
      }),
    );
  }
  const { host, ports } = emulator;
  console.log(`
Node-RED editor:   ${nodeRed.url}/   (demo flow "Aliyun IoT demo")
Emulator:          MQTT tcp ${host}:${ports.mqtt}, tls ${host}:${ports.mqtts}, ws ${host}:${ports.ws}/mqtt, wss ${host}:${ports.wss}/mqtt
                   HTTPS auth, the OpenAPI https://${host}:${ports.https}/ and the cloud API https://${host}:${ports.https}/api/devices
                   AMQP server-side subscription amqps://${host}:${ports.amqp}, consumer group ${DEMO_CONSUMER_GROUP.id}
                   OTA firmware and remote configuration downloads https://${host}:${ports.files}
                   CA ${caPath}
Demo device:       ProductKey ${DEMO_DEVICE.productKey}, DeviceName ${DEMO_DEVICE.deviceName}, DeviceSecret ${DEMO_DEVICE.deviceSecret} (a demo value)
Demo account:      AccessKey ID ${DEMO_ACCOUNT.accessKeyId} (its secret, a demo value, is in the flow's account node)
Press Ctrl-C to stop.`);
}

main().catch((err) => {
  console.error(`npm start: ${err.message}`);
  process.exitCode = 1;
});
