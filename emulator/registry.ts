// What the emulated platform knows: products, devices, HTTPS-auth tokens, online state, counters
// and a bounded log of recent uplink messages per device.
import { randomBytes } from 'node:crypto';
import type { StoredDevice, StoredProduct, StoredState } from './state-store';
import { compileTsl, type ThingModel } from './thing-model';

export interface DeviceSpec {
  productKey: string;
  deviceName: string;
  /** Absent: a pre-registered device that is not activated yet (dynamic registration). */
  deviceSecret?: string;
  /** 'gateway': the device may manage sub-devices; its product's node type otherwise. */
  nodeType?: NodeType;
}

/** A product's node type (节点类型): a direct device, or a gateway that proxies sub-devices. */
export type NodeType = 'device' | 'gateway';

export interface ProductSpec {
  productKey: string;
  /** Present: dynamic registration is enabled for this product. */
  productSecret?: string;
  /** 'gateway': every device of the product is a gateway. Direct devices by default. */
  nodeType?: NodeType;
  /**
   * The thing model as the console exports it (物模型 -> 导出物模型), or a list of such exports (custom
   * modules): device data and cloud calls are then checked against it (emulator/tsl.ts). Given at
   * each start, never stored in the state file.
   */
  tsl?: unknown;
}

export interface DeviceCounters {
  connects: number;
  refused: Record<string, number>;
  kicks: number;
  messagesIn: number;
  messagesOut: number;
  drops: Record<string, number>;
  /** Topic filters received in SUBSCRIBE packets, cumulative. */
  subscribeRequests: number;
  /** HTTPS-auth tokens issued (`/auth/devicename` answered 200). */
  tokens: number;
  /** Successful dynamic registrations, over HTTPS or MQTT. */
  registrations: number;
}

export interface UplinkMessage {
  topic: string;
  payload: string;
  qos: number;
  time: number;
  /** The bytes, when they are not UTF-8 text (raw data, PLATFORM.md §16.1): `payload` then loses some. */
  payloadBase64?: string;
}

export interface DeviceRecord {
  readonly productKey: string;
  readonly deviceName: string;
  deviceSecret: string | undefined;
  /** Logged in at least once; a device given with a secret counts as activated from the start. */
  activated: boolean;
  /** Registration-free devices: what `authType=regnwl` issued, for `authType=connwl` logins. */
  registrationFree?: { clientId: string; deviceToken: string };
  online: boolean;
  /** Keep alive of the current or last session, as the platform applies it (clamped to 1200). */
  keepalive?: number;
  lastConnectAt?: number;
  lastDisconnectAt?: number;
  lastDisconnectReason?: string;
  /** The current or last session logged in with `_ss=1` (system topics without SUBSCRIBE). */
  serverSubscribed?: boolean;
  /** Given as a gateway (or its product is one). */
  gateway?: boolean;
  /** Disabled from the cloud: refused at login (CONNACK 5, or 522 through a gateway). */
  disabled?: boolean;
  /** The current or last session's ClientId had `ext` with bit0 set: RRPC uses `/ext/rrpc/` (PLATFORM.md §16.2). */
  extRrpc?: boolean;
  /** Device tags (`thing/deviceinfo/update`, emulator/tags.ts), in the order first set. */
  readonly tags: Map<string, string>;
  /** Firmware versions the device reported on `/ota/device/inform`, by module ("default": the whole device; emulator/ota.ts). */
  firmware?: Record<string, string>;
  /** A sub-device online through a gateway: that gateway's `pk&dn`. */
  via?: string;
  /** Filters the current session holds. */
  readonly subscriptions: Set<string>;
  /** Last value of every property the device posted. */
  readonly properties: Record<string, unknown>;
  readonly counters: DeviceCounters;
  readonly uplink: UplinkMessage[];
}

export interface IssuedToken {
  iotId: string;
  iotToken: string;
  expiresAt: number;
  device: DeviceRecord;
}

export const UPLINK_LOG_SIZE = 200;

export function deviceKey(productKey: string, deviceName: string): string {
  return `${productKey}&${deviceName}`;
}

function bump(counts: Record<string, number>, reason: string): void {
  counts[reason] = (counts[reason] ?? 0) + 1;
}

export class Registry {
  private readonly devices = new Map<string, DeviceRecord>();
  private readonly products = new Map<string, ProductSpec>();
  private readonly models = new Map<string, ThingModel>();
  private readonly tokens = new Map<string, IssuedToken>();
  /** `pk&dn` of devices deleted from the cloud API and not given again (a login naming one gets CONNACK 5). */
  private readonly deleted = new Set<string>();
  /** Refusals of logins whose username names no known device. */
  readonly unknownLogins: Record<string, number> = {};
  /** Called after a change worth keeping across restarts (a registration, an activation, a token). */
  onChange: (() => void) | undefined;

  constructor(
    devices: readonly DeviceSpec[] = [],
    products: readonly ProductSpec[] = [],
    /** Settable while running, so a test can make the next tokens short-lived. */
    public tokenLifetimeMs = 7 * 24 * 3600 * 1000,
  ) {
    for (const p of products) this.products.set(p.productKey, { ...p });
    // A TSL the emulator cannot read stops the start, naming the place (TslError).
    for (const p of products) if (p.tsl !== undefined) this.models.set(p.productKey, compileTsl(p.tsl, p.productKey));
    for (const d of devices) this.addDevice(d);
  }

  /** The product's thing model; undefined when it has none (nothing is checked then). */
  model(productKey: string): ThingModel | undefined {
    return this.models.get(productKey);
  }

  addDevice(spec: DeviceSpec): DeviceRecord {
    const record: DeviceRecord = {
      productKey: spec.productKey,
      deviceName: spec.deviceName,
      deviceSecret: spec.deviceSecret,
      ...((spec.nodeType ?? this.products.get(spec.productKey)?.nodeType) === 'gateway' && { gateway: true }),
      activated: spec.deviceSecret !== undefined,
      online: false,
      subscriptions: new Set(),
      properties: {},
      tags: new Map(),
      counters: {
        connects: 0,
        refused: {},
        kicks: 0,
        messagesIn: 0,
        messagesOut: 0,
        drops: {},
        subscribeRequests: 0,
        tokens: 0,
        registrations: 0,
      },
      uplink: [],
    };
    this.devices.set(deviceKey(spec.productKey, spec.deviceName), record);
    this.deleted.delete(deviceKey(spec.productKey, spec.deviceName));
    if (!this.products.has(spec.productKey)) this.products.set(spec.productKey, { productKey: spec.productKey });
    return record;
  }

  device(productKey: string, deviceName: string): DeviceRecord | undefined {
    return this.devices.get(deviceKey(productKey, deviceName));
  }

  /** A gateway by its own spec or by its product's node type. */
  isGateway(device: DeviceRecord): boolean {
    return device.gateway === true || this.products.get(device.productKey)?.nodeType === 'gateway';
  }

  product(productKey: string): ProductSpec | undefined {
    return this.products.get(productKey);
  }

  list(): DeviceRecord[] {
    return [...this.devices.values()];
  }

  /** Deletes a device (emulator/lifecycle.ts): its tokens go with it, its name is remembered as deleted. */
  remove(device: DeviceRecord): void {
    const key = deviceKey(device.productKey, device.deviceName);
    if (this.devices.get(key) !== device) return;
    this.devices.delete(key);
    this.deleted.add(key);
    for (const [iotId, token] of this.tokens) if (token.device === device) this.tokens.delete(iotId);
    this.changed();
  }

  /** True when an MQTT username (`dn&pk`) names a device deleted from the cloud API. */
  deletedLogin(username: string): boolean {
    const parts = username.split('&');
    return parts.length === 2 && this.deleted.has(deviceKey(parts[1] ?? '', parts[0] ?? ''));
  }

  refuse(device: DeviceRecord | undefined, reason: string): void {
    bump(device ? device.counters.refused : this.unknownLogins, reason);
  }

  drop(device: DeviceRecord, reason: string): void {
    bump(device.counters.drops, reason);
  }

  recordUplink(device: DeviceRecord, message: UplinkMessage): void {
    device.counters.messagesIn++;
    device.uplink.push(message);
    if (device.uplink.length > UPLINK_LOG_SIZE) device.uplink.shift();
  }

  issueToken(device: DeviceRecord, now = Date.now()): IssuedToken {
    const token: IssuedToken = {
      iotId: randomBytes(10).toString('hex'),
      iotToken: randomBytes(16).toString('hex'),
      expiresAt: now + this.tokenLifetimeMs,
      device,
    };
    this.tokens.set(token.iotId, token);
    device.counters.tokens++;
    this.changed();
    return token;
  }

  changed(): void {
    this.onChange?.();
  }

  token(iotId: string): IssuedToken | undefined {
    return this.tokens.get(iotId);
  }

  /** Every secret the platform holds or handed out, for tests that check none of them leaks. */
  secrets(): string[] {
    const out: string[] = [];
    for (const d of this.devices.values()) {
      if (d.deviceSecret) out.push(d.deviceSecret);
      if (d.registrationFree) out.push(d.registrationFree.deviceToken);
    }
    for (const p of this.products.values()) if (p.productSecret) out.push(p.productSecret);
    for (const t of this.tokens.values()) out.push(t.iotToken);
    return out;
  }

  /** What a restart must keep; tokens that have expired are left out. */
  snapshot(now = Date.now()): StoredState {
    return {
      version: 1,
      devices: this.list().map((d) => ({
        productKey: d.productKey,
        deviceName: d.deviceName,
        ...(d.deviceSecret !== undefined && { deviceSecret: d.deviceSecret }),
        activated: d.activated,
        ...(d.registrationFree && { registrationFree: { ...d.registrationFree } }),
        ...(d.gateway && { nodeType: 'gateway' as const }),
        ...(d.disabled && { disabled: true }),
        ...(d.tags.size > 0 && { tags: Object.fromEntries(d.tags) }),
      })),
      ...(this.deleted.size > 0 && { deleted: [...this.deleted] }),
      products: [...this.products.values()].map(storedProduct),
      tokens: [...this.tokens.values()]
        .filter((t) => t.expiresAt > now)
        .map((t) => ({
          iotId: t.iotId,
          iotToken: t.iotToken,
          expiresAt: t.expiresAt,
          productKey: t.device.productKey,
          deviceName: t.device.deviceName,
        })),
    };
  }

  /**
   * Merges a stored state into the devices and products given at start (call it before anything
   * logs in). A device given with a secret keeps that secret: the user changed it on purpose, so
   * its stored tokens go too. A device given without one (pre-registered) takes what it obtained
   * before: registered secret, activation, registration-free token. Stored devices and products
   * not given are kept; a given product without a secret takes the stored one.
   */
  restore(state: StoredState, now = Date.now()): void {
    const rotated = new Set<DeviceRecord>();
    for (const stored of state.products) {
      const given = this.products.get(stored.productKey);
      if (!given) this.products.set(stored.productKey, { ...stored });
      else if (given.productSecret === undefined && stored.productSecret !== undefined)
        given.productSecret = stored.productSecret;
      if (given && given.nodeType === undefined && stored.nodeType !== undefined) given.nodeType = stored.nodeType;
    }
    for (const stored of state.devices) {
      let device = this.device(stored.productKey, stored.deviceName);
      if (device?.deviceSecret !== undefined) {
        restoreCloudState(device, stored);
        if (device.deviceSecret !== stored.deviceSecret) rotated.add(device);
        device.registrationFree ??= stored.registrationFree && { ...stored.registrationFree };
        continue;
      }
      device ??= this.addDevice({
        productKey: stored.productKey,
        deviceName: stored.deviceName,
        nodeType: stored.nodeType,
      });
      device.deviceSecret = stored.deviceSecret;
      device.activated = stored.activated;
      if (stored.registrationFree) device.registrationFree = { ...stored.registrationFree };
      restoreCloudState(device, stored);
    }
    // A deleted device the configuration gives again is created anew (as re-creating it in the console).
    for (const key of state.deleted ?? []) if (!this.devices.has(key)) this.deleted.add(key);
    for (const stored of state.tokens) {
      const device = this.device(stored.productKey, stored.deviceName);
      if (!device || rotated.has(device) || stored.expiresAt <= now || this.tokens.has(stored.iotId)) continue;
      this.tokens.set(stored.iotId, {
        iotId: stored.iotId,
        iotToken: stored.iotToken,
        expiresAt: stored.expiresAt,
        device,
      });
    }
  }
}

/** What the cloud decided about a device and the device reported: disabled, tags (emulator/lifecycle.ts, tags.ts). */
function restoreCloudState(device: DeviceRecord, stored: StoredDevice): void {
  if (stored.disabled === true) device.disabled = true;
  for (const [key, value] of Object.entries(stored.tags ?? {})) device.tags.set(key, value);
}

/** What a restart keeps of a product: not its TSL, which comes with the configuration. */
function storedProduct(p: ProductSpec): StoredProduct {
  return {
    productKey: p.productKey,
    ...(p.productSecret !== undefined && { productSecret: p.productSecret }),
    ...(p.nodeType !== undefined && { nodeType: p.nodeType }),
  };
}

/** A device as the cloud API shows it: no secret. */
export function describeDevice(d: DeviceRecord): Record<string, unknown> {
  return {
    productKey: d.productKey,
    deviceName: d.deviceName,
    activated: d.activated,
    registrationFree: d.registrationFree !== undefined,
    online: d.online,
    ...(d.gateway && { nodeType: 'gateway' }),
    ...(d.via !== undefined && { via: d.via }),
    disabled: d.disabled === true,
    tags: Object.fromEntries(d.tags),
    ...(d.firmware && { firmware: { ...d.firmware } }),
    keepalive: d.keepalive,
    // The ClientId flags of the current or last session: `_ss=1`, and `ext` bit0 (RRPC's form).
    ...(d.serverSubscribed && { serverSubscribed: true }),
    ...(d.extRrpc && { extRrpc: true }),
    lastConnectAt: d.lastConnectAt,
    lastDisconnectAt: d.lastDisconnectAt,
    lastDisconnectReason: d.lastDisconnectReason,
    subscriptions: [...d.subscriptions].sort(),
    properties: d.properties,
    counters: d.counters,
  };
}
