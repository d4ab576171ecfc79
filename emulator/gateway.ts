// Gateways and their sub-devices (PLATFORM.md §11): the topology (拓扑关系) the cloud keeps for
// each gateway, and the sub-device sessions a gateway's connection carries. Written from the
// platform's rules, not from any client: topology outlives connections, sessions do not (PLATFORM.md §11).
import type { DeviceRecord, Registry } from './registry';

export interface GatewayLimits {
  /** Sub-devices in one gateway's topology (2,000, PLATFORM.md §11). */
  topology: number;
  /** Sub-devices online at once through one gateway (2,000, PLATFORM.md §11); over it a login gets 428. */
  online: number;
  /** Sub-device logins a gateway may ask for per second (200 QPS, PLATFORM.md §11); over it 429. */
  loginsPerSecond: number;
}

export const GATEWAY_LIMITS: GatewayLimits = { topology: 2000, online: 2000, loginsPerSecond: 200 };

export interface GatewayCounters {
  logins: number;
  logouts: number;
  topoAdds: number;
  topoDeletes: number;
  kicks: number;
  /** Sub-device messages dropped because the sub-device was not logged in (520). */
  refusedTraffic: number;
}

/** What the gateway is told on `/ext/error/{gwPK}/{gwDN}` and `thing/topo/change` (PLATFORM.md §11). */
export interface GatewayNotices {
  extError(gateway: DeviceRecord, code: number, sub: DeviceRecord, message: string): void;
  topoChange(gateway: DeviceRecord, status: 0 | 1 | 2 | 8, subs: readonly DeviceRecord[]): void;
  /** Ends a sub-device's direct MQTT session (it logs in through a gateway now). */
  endDirect(sub: DeviceRecord): void;
}

export class Gateways {
  /** Gateway → its sub-devices, for the emulator's lifetime (persisted with `dataDir`). */
  private readonly topology = new Map<DeviceRecord, Set<DeviceRecord>>();
  /** Sub-device → the gateway its topology binds it to (one at a time, else 6619). */
  private readonly parents = new Map<DeviceRecord, DeviceRecord>();
  /** Sub-device → the gateway whose connection carries its session now. */
  private readonly sessions = new Map<DeviceRecord, DeviceRecord>();
  private readonly rates = new Map<DeviceRecord, { start: number; count: number }>();
  /** `thing/list/found` reports, newest last (bounded). */
  readonly found = new Map<DeviceRecord, { productKey: string; deviceName: string }[]>();
  readonly counters: GatewayCounters = {
    logins: 0,
    logouts: 0,
    topoAdds: 0,
    topoDeletes: 0,
    kicks: 0,
    refusedTraffic: 0,
  };
  notices: GatewayNotices | undefined;
  /** Called when the topology changed, for the state file. */
  onChange: (() => void) | undefined;
  /** Called after sub-devices logged in through a gateway (their sessions started), e.g. to push open OTA jobs again. */
  onLogin: ((subs: readonly DeviceRecord[]) => void) | undefined;
  /** Called when a sub-device's session through a gateway ended (its status went offline, emulator/dataflow.ts). */
  onSessionEnd: ((sub: DeviceRecord, gateway: DeviceRecord) => void) | undefined;
  /** Called when sub-devices joined or left a gateway's topology (the data flow's topo/lifecycle). */
  onTopology: ((gateway: DeviceRecord, action: 'add' | 'remove', subs: readonly DeviceRecord[]) => void) | undefined;

  constructor(
    readonly registry: Registry,
    readonly limits: GatewayLimits = GATEWAY_LIMITS,
  ) {}

  parentOf(sub: DeviceRecord): DeviceRecord | undefined {
    return this.parents.get(sub);
  }

  subDevices(gateway: DeviceRecord): DeviceRecord[] {
    return [...(this.topology.get(gateway) ?? [])];
  }

  /** The gateway that carries this sub-device's session, if it is logged in. */
  sessionOf(sub: DeviceRecord): DeviceRecord | undefined {
    return this.sessions.get(sub);
  }

  onlineCount(gateway: DeviceRecord): number {
    let n = 0;
    for (const gw of this.sessions.values()) if (gw === gateway) n++;
    return n;
  }

  bind(gateway: DeviceRecord, subs: readonly DeviceRecord[]): void {
    let set = this.topology.get(gateway);
    if (!set) this.topology.set(gateway, (set = new Set()));
    for (const sub of subs) {
      set.add(sub);
      this.parents.set(sub, gateway);
    }
    this.counters.topoAdds += subs.length;
    this.onChange?.();
    this.onTopology?.(gateway, 'add', subs);
  }

  /** Removes topology; a sub-device online through the gateway is logged out with 6401 (PLATFORM.md §11). */
  unbind(gateway: DeviceRecord, subs: readonly DeviceRecord[]): void {
    const set = this.topology.get(gateway);
    for (const sub of subs) {
      set?.delete(sub);
      if (this.parents.get(sub) === gateway) this.parents.delete(sub);
      if (this.sessions.get(sub) === gateway) {
        this.end(sub, 'topology-deleted');
        this.notices?.extError(gateway, 6401, sub, 'topology relation deleted');
      }
    }
    this.counters.topoDeletes += subs.length;
    this.onChange?.();
    this.onTopology?.(gateway, 'remove', subs);
  }

  /** Counts logins against the gateway's rate; false once over it this second. */
  admitLogins(gateway: DeviceRecord, count: number, now = Date.now()): boolean {
    const window = this.rates.get(gateway);
    if (!window || now - window.start >= 1000) {
      this.rates.set(gateway, { start: now, count });
      return count <= this.limits.loginsPerSecond;
    }
    window.count += count;
    return window.count <= this.limits.loginsPerSecond;
  }

  /**
   * Starts sessions through `gateway`. An older session of the same sub-device elsewhere is kicked:
   * through another gateway it gets `/ext/error` 427, a direct connection is closed.
   */
  login(gateway: DeviceRecord, subs: readonly DeviceRecord[], now = Date.now()): void {
    for (const sub of subs) {
      const older = this.sessions.get(sub);
      if (older && older !== gateway) {
        this.counters.kicks++;
        sub.counters.kicks++;
        this.notices?.extError(older, 427, sub, 'sub-device logged in elsewhere');
      } else if (!older && sub.online) {
        sub.counters.kicks++;
        this.notices?.endDirect(sub);
      }
      this.sessions.set(sub, gateway);
      sub.online = true;
      sub.via = `${gateway.productKey}&${gateway.deviceName}`;
      sub.lastConnectAt = now;
      if (!older || older !== gateway) sub.counters.connects++;
      if (!sub.activated) {
        sub.activated = true;
        this.registry.changed();
      }
    }
    this.counters.logins += subs.length;
    this.onLogin?.(subs);
  }

  logout(subs: readonly DeviceRecord[], reason = 'logout'): void {
    for (const sub of subs) this.end(sub, reason);
    this.counters.logouts += subs.length;
  }

  private end(sub: DeviceRecord, reason: string): void {
    const gateway = this.sessions.get(sub);
    if (!gateway) return;
    this.sessions.delete(sub);
    sub.online = false;
    sub.via = undefined;
    sub.lastDisconnectAt = Date.now();
    sub.lastDisconnectReason = reason;
    this.onSessionEnd?.(sub, gateway);
  }

  /** A gateway's connection started or ended: its sub-devices are offline until logged in again (PLATFORM.md §11). */
  endAll(gateway: DeviceRecord, reason: string): void {
    for (const [sub, gw] of [...this.sessions]) if (gw === gateway) this.end(sub, reason);
  }

  /** A device logs in directly: a session it had through a gateway ends there with 427. */
  directLogin(device: DeviceRecord): void {
    const gateway = this.sessions.get(device);
    if (gateway) {
      this.end(device, 'kicked');
      this.counters.kicks++;
      this.notices?.extError(gateway, 427, device, 'sub-device logged in elsewhere');
    }
    if (this.registry.isGateway(device)) this.endAll(device, 'gateway-reconnected');
  }

  /**
   * Cloud-side topology add (`/api/.../topology/add`), announced with `thing/topo/change` status 0
   * (PLATFORM.md §11). A sub-device bound to another gateway moves only when asked (`move`, the emulator's
   * stand-in for the console and for proxy registration 抢绑, PLATFORM.md §11): the old gateway is told
   * status 1, and a session it carries stays until the sub-device logs in elsewhere (then 427).
   */
  cloudBind(gateway: DeviceRecord, subs: readonly DeviceRecord[], move = false): DeviceRecord[] {
    const taken = subs.filter((s) => s === gateway || (this.parents.has(s) && this.parents.get(s) !== gateway));
    if (taken.some((s) => s === gateway) || (taken.length > 0 && !move)) return taken;
    for (const sub of taken) {
      const old = this.parents.get(sub);
      if (!old) continue;
      this.topology.get(old)?.delete(sub);
      this.notices?.topoChange(old, 1, [sub]);
      this.onTopology?.(old, 'remove', [sub]);
    }
    this.bind(gateway, subs);
    this.notices?.topoChange(gateway, 0, subs);
    return [];
  }

  /**
   * Disables or enables a device (PLATFORM.md §11: status 8 / 2 to its gateway). A disabled sub-device online
   * through a gateway is logged out with `/ext/error` 522 (PLATFORM.md §11) and refused at login with 522.
   */
  setDisabled(device: DeviceRecord, disabled: boolean): void {
    device.disabled = disabled;
    const parent = this.parents.get(device);
    if (parent) this.notices?.topoChange(parent, disabled ? 8 : 2, [device]);
    const gateway = this.sessions.get(device);
    if (disabled && gateway) {
      this.end(device, 'disabled');
      this.notices?.extError(gateway, 522, device, 'sub-device disabled');
    }
  }

  cloudUnbind(gateway: DeviceRecord, subs: readonly DeviceRecord[]): void {
    this.unbind(gateway, subs);
    this.notices?.topoChange(gateway, 1, subs);
  }

  /** Topology as `pk&dn` pairs, for the state file. */
  snapshot(): { gateway: string; subDevices: string[] }[] {
    return [...this.topology]
      .filter(([, subs]) => subs.size > 0)
      .map(([gw, subs]) => ({
        gateway: `${gw.productKey}&${gw.deviceName}`,
        subDevices: [...subs].map((s) => `${s.productKey}&${s.deviceName}`),
      }));
  }

  restore(stored: readonly { gateway: string; subDevices: readonly string[] }[]): void {
    const find = (key: string) => {
      const at = key.indexOf('&');
      return at < 0 ? undefined : this.registry.device(key.slice(0, at), key.slice(at + 1));
    };
    for (const entry of stored) {
      const gateway = find(entry.gateway);
      if (!gateway) continue;
      const subs = entry.subDevices.map(find).filter((d): d is DeviceRecord => d !== undefined);
      const free = subs.filter((s) => s !== gateway && !this.parents.has(s));
      let set = this.topology.get(gateway);
      if (!set) this.topology.set(gateway, (set = new Set()));
      for (const sub of free) {
        set.add(sub);
        this.parents.set(sub, gateway);
      }
    }
  }
}
