// How each login attempt gets its MQTT credentials: signed directly, from an HTTPS token, or after
// dynamic registration (PLATFORM.md §3-5). The connection asks before every attempt.
import { isHardFailure, registerOverHttps, requestToken, type DeviceToken } from './device-auth';
import type { BrokerAddress, ResolvedEndpoint } from './endpoint';
import type { FormPostOptions } from './https-form';
import { registerOverMqtt } from './mqtt-register';
import type { ErrorCode } from './errors';
import type { DeviceOptions } from './options';
import { signMqtt } from './sign';

export { isHardFailure };

export interface MqttLogin {
  broker: BrokerAddress;
  clientId: string;
  username: string;
  password: string;
}

export interface LoginStrategy {
  /** Credentials for the next attempt; may call the platform first. Rejects with an AliyunIotError. */
  next(): MqttLogin | Promise<MqttLogin>;
  /**
   * The platform refused the last credentials with this CONNACK code. True when they were cached
   * and fresh ones are worth one prompt retry (an expired token), false to back off.
   */
  refused(returnCode: number): boolean;
}

/** What registration obtained for a device, kept so that it never registers twice. */
export interface StoredCredentials {
  productKey: string;
  deviceName: string;
  deviceSecret?: string;
  /** Registration-free: the clientId and token of `authType=connwl`. */
  clientId?: string;
  deviceToken?: string;
}

export interface CredentialStore {
  load(): Promise<StoredCredentials | undefined>;
  save(value: StoredCredentials): Promise<void>;
}

/** The calls to the platform a login may make before MQTT; a seam for unit tests. */
export interface PlatformCalls {
  requestToken: typeof requestToken;
  registerOverHttps: typeof registerOverHttps;
  registerOverMqtt: typeof registerOverMqtt;
}

const PLATFORM_CALLS: PlatformCalls = { requestToken, registerOverHttps, registerOverMqtt };

export interface LoginContext {
  endpoint: ResolvedEndpoint;
  /** The real HTTPS and MQTT calls unless given. */
  platform?: PlatformCalls;
  /** Where registration results are kept; a process-memory store when absent. */
  store?: CredentialStore;
  http?: FormPostOptions;
  /** Non-fatal trouble worth a log line (a store that failed to save). */
  warn?: (code: ErrorCode, params?: Record<string, unknown>) => void;
}

export function memoryStore(): CredentialStore {
  let kept: StoredCredentials | undefined;
  return {
    load: () => Promise.resolve(kept),
    save: (value) => {
      kept = value;
      return Promise.resolve();
    },
  };
}

/** A token is renewed this long before its 7 days (counted from the fetch) are up. */
const TOKEN_RENEW_MARGIN_MS = 3600_000;

function signed(options: DeviceOptions, endpoint: ResolvedEndpoint, deviceSecret: string): MqttLogin {
  const ext = options.extRrpc ? { ext: 1 } : undefined;
  const creds = signMqtt({ ...options, deviceSecret, securemode: endpoint.securemode, timestamp: Date.now(), ext });
  return { broker: endpoint, ...creds };
}

class SignLogin implements LoginStrategy {
  constructor(
    private readonly options: DeviceOptions,
    private readonly endpoint: ResolvedEndpoint,
  ) {}

  next(): MqttLogin {
    return signed(this.options, this.endpoint, this.options.deviceSecret);
  }

  refused(): boolean {
    return false;
  }
}

class TokenLogin implements LoginStrategy {
  private token: DeviceToken | undefined;
  private cached = false;

  constructor(
    private readonly options: DeviceOptions,
    private readonly context: LoginContext,
  ) {}

  async next(): Promise<MqttLogin> {
    const token = this.token;
    this.cached = token !== undefined && Date.now() < token.expiresAt - TOKEN_RENEW_MARGIN_MS;
    const fresh = this.cached && token ? token : await this.fetch();
    return {
      broker: { protocol: 'mqtts', host: fresh.mqtt.host, port: fresh.mqtt.port },
      clientId: this.options.clientId,
      username: fresh.iotId,
      password: fresh.iotToken,
    };
  }

  private async fetch(): Promise<DeviceToken> {
    this.token = undefined;
    const platform = this.context.platform ?? PLATFORM_CALLS;
    this.token = await platform.requestToken(this.options, this.context.http);
    return this.token;
  }

  refused(): boolean {
    const retry = this.cached;
    this.token = undefined;
    this.cached = false;
    return retry;
  }
}

class RegisterLogin implements LoginStrategy {
  private credentials: StoredCredentials | undefined;
  private readonly store: CredentialStore;

  constructor(
    private readonly options: DeviceOptions,
    private readonly context: LoginContext,
  ) {
    this.store = context.store ?? memoryStore();
  }

  async next(): Promise<MqttLogin> {
    const creds = this.credentials ?? this.given() ?? (await this.stored()) ?? (await this.register());
    this.credentials = creds;
    const { options, context } = this;
    if (creds.deviceSecret) return signed(options, context.endpoint, creds.deviceSecret);
    return {
      broker: context.endpoint,
      clientId: `${creds.clientId ?? options.clientId}|securemode=-2,authType=connwl|`,
      username: `${options.deviceName}&${options.productKey}`,
      password: creds.deviceToken ?? '',
    };
  }

  /** A DeviceSecret the user entered anyway (copied from the console) wins over registering. */
  private given(): StoredCredentials | undefined {
    const { productKey, deviceName, deviceSecret } = this.options;
    return deviceSecret && !this.registrationFree ? { productKey, deviceName, deviceSecret } : undefined;
  }

  /** What an earlier registration of this very device left in the store. */
  private async stored(): Promise<StoredCredentials | undefined> {
    const found = await this.store.load();
    const { productKey, deviceName } = this.options;
    if (found?.productKey !== productKey || found.deviceName !== deviceName) return undefined;
    const usable = this.registrationFree ? found.clientId && found.deviceToken : found.deviceSecret;
    return usable ? found : undefined;
  }

  private get registrationFree(): boolean {
    return this.options.registerKind === 'registration-free';
  }

  private async register(): Promise<StoredCredentials> {
    const { options, context } = this;
    const timeout = context.http?.timeoutMs;
    const platform = context.platform ?? PLATFORM_CALLS;
    let creds: StoredCredentials;
    if (this.registrationFree) creds = await platform.registerOverMqtt(options, 'regnwl', timeout);
    else if (options.registerVia === 'mqtt') creds = await platform.registerOverMqtt(options, 'register', timeout);
    else creds = await platform.registerOverHttps(options, context.http);
    // A registered device cannot register again: keeping the result matters more than this login.
    await this.store.save(creds).catch((err: unknown) => {
      context.warn?.('SECRET_NOT_SAVED', { reason: err instanceof Error ? err.message : String(err) });
    });
    return creds;
  }

  refused(): boolean {
    return false;
  }
}

export function createLogin(options: DeviceOptions, context: LoginContext): LoginStrategy {
  switch (options.authMode) {
    case 'https':
      return new TokenLogin(options, context);
    case 'register':
      return new RegisterLogin(options, context);
    default:
      return new SignLogin(options, context.endpoint);
  }
}
