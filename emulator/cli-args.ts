// Command-line arguments of `aliyun-iot-emulator`, parsed into startEmulator options.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { apiTokenProblem } from './access';
import demoTsl from './demo-tsl.json';
import type { AccountSpec, ConsumerGroupSpec, DeviceSpec, EmulatorPorts, ProductSpec } from './index';

/** Fixed, documented defaults so flows and examples can name them. */
export const CLI_DEFAULT_PORTS: EmulatorPorts = {
  mqtt: 11883,
  mqtts: 18883,
  ws: 18080,
  wss: 18443,
  https: 18444,
  files: 18445,
  // The platform's 5671 (PLATFORM.md §17.1) shifted as the others.
  amqp: 15671,
};

/** The device and product the examples and the demo flow use (`--demo`). */
export const DEMO_DEVICE: DeviceSpec = {
  productKey: 'a1DemoPk',
  deviceName: 'demo-device',
  deviceSecret: 'demo-device-secret',
};
export const DEMO_PRODUCT: ProductSpec = { productKey: 'a1DemoPk', productSecret: 'demo-product-secret' };
/**
 * The demo product's thing model (`--demo` loads it): a lamp with every data type, the event Alarm
 * and the services ToggleRelay, SetMode and Echo that the examples use. A copy of
 * test/fixtures/tsl/demo-lamp.json, shipped inside the package (test/emulator/tsl-cli.test.ts keeps them equal).
 */
export const DEMO_TSL: unknown = demoTsl;
/** Pre-registered, not activated: the dynamic-registration examples obtain their secrets. */
export const DEMO_UNREGISTERED: readonly DeviceSpec[] = [
  { productKey: 'a1DemoPk', deviceName: 'demo-register' },
  { productKey: 'a1DemoPk', deviceName: 'demo-child-1' },
  // Registered through the demo gateway (`thing/sub/register`): examples/gateway-register.json.
  { productKey: 'a1DemoPk', deviceName: 'demo-sub-register' },
];

/** The demo gateway (`--demo`): a gateway product, one gateway and three sub-devices. */
export const DEMO_GATEWAY_PRODUCT: ProductSpec = { productKey: 'a1DemoGw', nodeType: 'gateway' };
export const DEMO_GATEWAY: DeviceSpec = {
  productKey: 'a1DemoGw',
  deviceName: 'demo-gateway',
  deviceSecret: 'demo-gateway-secret',
};
export const DEMO_SUB_DEVICES: readonly DeviceSpec[] = [1, 2, 3].map((n) => ({
  productKey: 'a1DemoSub',
  deviceName: `demo-sub-${n}`,
  deviceSecret: `demo-sub-${n}-secret`,
}));

/** The demo AccessKey and consumer group (`--demo`): what the cloud-side examples log in to AMQP with. */
export const DEMO_ACCOUNT: AccountSpec = {
  accessKeyId: 'LTAI5tDemoAccessKeyId',
  accessKeySecret: 'demo-access-key-secret',
};
export const DEMO_CONSUMER_GROUP: ConsumerGroupSpec = { id: 'DEFAULT_GROUP' };

/** Where the CLI reads the cloud API token when `--api-token` is not given. */
export const API_TOKEN_ENV = 'ALIYUN_IOT_EMULATOR_API_TOKEN';
/** Where the CLI reads one more AccessKey (`id:secret`), so that its secret need not be in argv. */
export const ACCOUNT_ENV = 'ALIYUN_IOT_EMULATOR_ACCOUNT';

export interface CliOptions {
  host: string;
  ports: EmulatorPorts;
  devices: DeviceSpec[];
  products: ProductSpec[];
  dataDir: string | undefined;
  rateLimit: number;
  tokenLifetimeMs: number | undefined;
  /** From `--api-token`, else the environment; undefined: generated off loopback. */
  apiToken: string | undefined;
  /** `--unsafe-open-api`: no token off loopback, on purpose. */
  unsafeOpenApi: boolean;
  /** `--tls-name`: more names for the server certificate. */
  serverNames: string[];
  /** `--account`, the environment and `--demo`: AccessKeys of the OpenAPI and the AMQP subscription. */
  accounts: AccountSpec[];
  /** `--consumer-group`: the AMQP subscription's consumer groups. */
  consumerGroups: ConsumerGroupSpec[];
  /** `--instance-id`: the emulated instance's ID; unset, an old public instance. */
  iotInstanceId: string | undefined;
  help: boolean;
}

export const USAGE = `Usage: aliyun-iot-emulator [options]

  --demo                     what the examples use: device a1DemoPk:demo-device:demo-device-secret, product
                             a1DemoPk:demo-product-secret with a thing model (a lamp: see GET
                             /api/products/a1DemoPk/tsl), unregistered devices demo-register, demo-child-1,
                             demo-sub-register (to register through the gateway),
                             gateway a1DemoGw:demo-gateway:demo-gateway-secret with sub-devices
                             a1DemoSub:demo-sub-N:demo-sub-N-secret (N = 1..3), no topology yet,
                             AccessKey ${DEMO_ACCOUNT.accessKeyId}:${DEMO_ACCOUNT.accessKeySecret}, consumer group ${DEMO_CONSUMER_GROUP.id}
  --device pk:dn:secret      a device (repeatable)
  --devices file.json        devices and products: {"devices":[{productKey,deviceName,deviceSecret}],"products":[{productKey,productSecret}]};
                             a product's "tsl" is its thing model, the TSL JSON or the path of a file
                             (relative to this file)
  --tsl pk:file.json         product pk's thing model, as the console exports it (物模型 -> 导出物模型);
                             posts and cloud calls that break it are refused as the platform does
                             (repeatable; --demo loads one for a1DemoPk)
  --product pk:secret        enable dynamic registration for a product (repeatable)
  --gateway pk:dn:secret     a gateway device: it may add topology and log sub-devices in (repeatable)
  --gateway-product pk       every device of product pk is a gateway (node type gateway; repeatable);
                             in --devices files: "nodeType":"gateway" on a device or a product
  --host 127.0.0.1           address to listen on; any other (0.0.0.0 for a team) puts the cloud API
                             behind a token and slows down guessing
  --api-token token          the token /api needs (Authorization: Bearer token), also from the
                             environment variable ${API_TOKEN_ENV}; off loopback, one is
                             generated and printed once when neither is given
  --unsafe-open-api          DANGER: off loopback, run the cloud API without a token, so that anyone
                             who reaches the port can read, command and disconnect every device
  --tls-name name            another host name or address in the server certificate (repeatable)
  --account id:secret        an AccessKey (AccessKeyId:AccessKeySecret) for the OpenAPI and the AMQP
                             subscription (repeatable); also from the environment variable
                             ${ACCOUNT_ENV}, which keeps the secret out of the process list
  --consumer-group id        a consumer group of the AMQP subscription (repeatable)
  --instance-id id           the emulated instance's ID (iot-06z00...): OpenAPI calls and AMQP logins
                             must name it; without it, an old public instance (no ID)
  --mqtt-port ${CLI_DEFAULT_PORTS.mqtt}          MQTT over TCP      (securemode 3)
  --mqtts-port ${CLI_DEFAULT_PORTS.mqtts}         MQTT over TLS      (securemode 2)
  --ws-port ${CLI_DEFAULT_PORTS.ws}            MQTT over WS, path /mqtt  (securemode 3)
  --wss-port ${CLI_DEFAULT_PORTS.wss}           MQTT over WSS, path /mqtt (securemode 2)
  --https-port ${CLI_DEFAULT_PORTS.https}         HTTPS auth, registration and the cloud API (/api/devices)
  --files-port ${CLI_DEFAULT_PORTS.files}         HTTPS downloads: OTA firmware, remote configuration files
  --amqp-port ${CLI_DEFAULT_PORTS.amqp}          AMQP 1.0 over TLS: the server-side subscription
  --data-dir dir             where the CA and the state (state.json: registered devices and their
                             secrets, tokens) are kept between runs (default ~/.aliyun-iot-emulator)
  --rate-limit 30            upstream messages per second per device, 0 = off
  --token-lifetime ms        HTTPS-auth token lifetime (default 7 days)
  --help
`;

const PORT_FLAGS: Record<string, keyof EmulatorPorts> = {
  '--mqtt-port': 'mqtt',
  '--mqtts-port': 'mqtts',
  '--ws-port': 'ws',
  '--wss-port': 'wss',
  '--https-port': 'https',
  '--files-port': 'files',
  '--amqp-port': 'amqp',
};

function integer(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${flag} must be a whole number from ${min} to ${max}`);
  return n;
}

function triple(value: string, flag = '--device'): DeviceSpec {
  const [productKey, deviceName, ...secret] = value.split(':');
  if (!productKey || !deviceName) throw new Error(`${flag} must be pk:dn:secret, got "${value}"`);
  const deviceSecret = secret.join(':');
  return deviceSecret ? { productKey, deviceName, deviceSecret } : { productKey, deviceName };
}

/** A TSL file, read at once so that a wrong path or bad JSON stops the start with its name. */
function readTsl(path: string, flag: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${flag}: cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(`${flag}: ${path} is not valid JSON`);
  }
}

function readDevicesFile(path: string): { devices: DeviceSpec[]; products: ProductSpec[] } {
  const json = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  if (Array.isArray(json)) return { devices: json as DeviceSpec[], products: [] };
  const { devices = [], products = [] } = json as { devices?: DeviceSpec[]; products?: ProductSpec[] };
  // A product's "tsl" given as a path is read relative to the devices file.
  const withTsl = products.map((p) =>
    typeof p.tsl === 'string' ? { ...p, tsl: readTsl(resolve(dirname(path), p.tsl), `--devices ${path}`) } : p,
  );
  return { devices, products: withTsl };
}

/** `AccessKeyId:AccessKeySecret`; the secret may hold colons. */
function account(value: string, from: string): AccountSpec {
  const [accessKeyId, ...secret] = value.split(':');
  const accessKeySecret = secret.join(':');
  // Never the value: it holds the secret.
  if (!accessKeyId || !accessKeySecret) throw new Error(`${from} must be AccessKeyId:AccessKeySecret`);
  return { accessKeyId, accessKeySecret };
}

/** One entry per AccessKey ID (the last one given wins) and per consumer group. */
function addAccount(accounts: AccountSpec[], spec: AccountSpec): void {
  const at = accounts.findIndex((a) => a.accessKeyId === spec.accessKeyId);
  if (at >= 0) accounts.splice(at, 1);
  accounts.push(spec);
}

function addGroup(groups: ConsumerGroupSpec[], id: string): void {
  if (!groups.some((g) => g.id === id)) groups.push({ id });
}

/** One entry per product: `--product pk:secret` and `--gateway-product pk` combine. */
function addProduct(products: ProductSpec[], spec: ProductSpec): void {
  const known = products.find((p) => p.productKey === spec.productKey);
  if (known) Object.assign(known, spec);
  else products.push(spec);
}

/** `env` is read for the API token and one AccessKey. */
export function parseCliArgs(argv: readonly string[], env: NodeJS.ProcessEnv = {}): CliOptions {
  const options: CliOptions = {
    host: '127.0.0.1',
    ports: { ...CLI_DEFAULT_PORTS },
    devices: [],
    products: [],
    dataDir: undefined,
    rateLimit: 30,
    tokenLifetimeMs: undefined,
    apiToken: undefined,
    unsafeOpenApi: false,
    serverNames: [],
    accounts: [],
    consumerGroups: [],
    iotInstanceId: undefined,
    help: false,
  };
  const envAccount = env[ACCOUNT_ENV];
  if (envAccount) addAccount(options.accounts, account(envAccount, ACCOUNT_ENV));
  let tokenFlag: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] ?? '';
    if (flag === '--help' || flag === '-h') {
      options.help = true;
      continue;
    }
    if (flag === '--demo') {
      options.devices.push({ ...DEMO_DEVICE }, ...DEMO_UNREGISTERED.map((d) => ({ ...d })));
      options.devices.push({ ...DEMO_GATEWAY }, ...DEMO_SUB_DEVICES.map((d) => ({ ...d })));
      addProduct(options.products, { ...DEMO_PRODUCT, tsl: DEMO_TSL });
      addProduct(options.products, { ...DEMO_GATEWAY_PRODUCT });
      addAccount(options.accounts, { ...DEMO_ACCOUNT });
      addGroup(options.consumerGroups, DEMO_CONSUMER_GROUP.id);
      continue;
    }
    if (flag === '--unsafe-open-api') {
      options.unsafeOpenApi = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    const port = PORT_FLAGS[flag];
    if (port) options.ports[port] = integer(flag, value, 0, 65535);
    else if (flag === '--device') options.devices.push(triple(value));
    else if (flag === '--gateway') options.devices.push({ ...triple(value, flag), nodeType: 'gateway' });
    else if (flag === '--gateway-product') addProduct(options.products, { productKey: value, nodeType: 'gateway' });
    else if (flag === '--tsl') {
      const [productKey, ...path] = value.split(':');
      if (!productKey || path.length === 0 || !path.join(':'))
        throw new Error(`--tsl must be pk:file.json, got "${value}"`);
      addProduct(options.products, { productKey, tsl: readTsl(path.join(':'), '--tsl') });
    } else if (flag === '--devices') {
      const file = readDevicesFile(value);
      options.devices.push(...file.devices);
      for (const p of file.products) addProduct(options.products, { ...p });
    } else if (flag === '--product') {
      const [productKey, productSecret] = value.split(':');
      if (!productKey || !productSecret) throw new Error(`--product must be pk:productSecret, got "${value}"`);
      addProduct(options.products, { productKey, productSecret });
    } else if (flag === '--host') options.host = value;
    else if (flag === '--data-dir') options.dataDir = value;
    else if (flag === '--rate-limit') options.rateLimit = integer(flag, value, 0, 1_000_000);
    else if (flag === '--token-lifetime') options.tokenLifetimeMs = integer(flag, value, 1, Number.MAX_SAFE_INTEGER);
    else if (flag === '--api-token') tokenFlag = value;
    else if (flag === '--tls-name') options.serverNames.push(value);
    else if (flag === '--account') addAccount(options.accounts, account(value, flag));
    else if (flag === '--consumer-group') {
      if (!value) throw new Error('--consumer-group needs an id');
      addGroup(options.consumerGroups, value);
    } else if (flag === '--instance-id') options.iotInstanceId = value || undefined;
    else throw new Error(`Unknown option ${flag}`);
  }
  return withApiToken(options, tokenFlag, env[API_TOKEN_ENV]);
}

/**
 * The flag wins over the environment. An empty `--api-token` asks for no token: refused, the only
 * way to an open API off loopback is --unsafe-open-api. An empty environment variable counts as unset.
 */
function withApiToken(options: CliOptions, flag: string | undefined, env: string | undefined): CliOptions {
  if (flag === '') {
    throw new Error(
      '--api-token needs a token; to run the cloud API without one (anyone who reaches it controls every device), pass --unsafe-open-api instead',
    );
  }
  if (flag !== undefined && options.unsafeOpenApi) {
    throw new Error('--api-token and --unsafe-open-api contradict each other: give one of them');
  }
  if (options.unsafeOpenApi) return options;
  const token = flag ?? (env === '' ? undefined : env);
  if (token !== undefined) {
    const problem = apiTokenProblem(token);
    if (problem) throw new Error(`${flag === undefined ? API_TOKEN_ENV : '--api-token'}: ${problem}`);
  }
  return { ...options, apiToken: token };
}
