// The device config node's settings, one row each: kind, default, options, dialog tab and when the
// field applies. The runtime's defaults (options.ts), the checks (rules.ts), the editor's `defaults`,
// option lists and shown rows (nodes/editor/validators.js) and the help's stated defaults (checked by
// test/unit/fields.test.ts) all come from here. No imports: the editor loads it as AliyunIot.fields.

export const SIGN_METHODS = ['hmacsha256', 'hmacsha1', 'hmacmd5'] as const;
export type SignMethod = (typeof SIGN_METHODS)[number];

export const TRANSPORTS = ['tls', 'tcp', 'wss', 'ws'] as const;
export type Transport = (typeof TRANSPORTS)[number];

export const ENDPOINT_KINDS = ['public', 'instance', 'custom'] as const;
export type EndpointKind = (typeof ENDPOINT_KINDS)[number];

/** How a device logs in: direct signature, HTTPS token (PLATFORM.md §4), dynamic registration (§5). */
export const AUTH_MODES = ['sign', 'https', 'register'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];
export const REGISTER_VIA = ['https', 'mqtt'] as const;
export type RegisterVia = (typeof REGISTER_VIA)[number];
export const REGISTER_KINDS = ['preregistered', 'registration-free'] as const;
export type RegisterKind = (typeof REGISTER_KINDS)[number];

/** Regions of the legacy public instance named by the platform's SDKs and docs. */
export const REGIONS = [
  'cn-shanghai',
  'cn-beijing',
  'cn-shenzhen',
  'ap-southeast-1',
  'ap-northeast-1',
  'us-west-1',
  'us-east-1',
  'eu-central-1',
] as const;
export type RegionId = (typeof REGIONS)[number];

/** The port a blank port field means (PLATFORM.md §2). */
export const DEFAULT_PORTS: Readonly<Record<Transport, number>> = Object.freeze({
  tcp: 1883,
  tls: 8883,
  ws: 443,
  wss: 443,
});

/** The config dialog's tabs, in order; what a first-time user needs is on the first. */
export const TABS = ['connection', 'authentication', 'tls', 'delivery'] as const;
export type Tab = (typeof TABS)[number];

/** Settings as a flow or the editor holds them: strings and numbers alike. */
export type RawSettings = Readonly<Record<string, unknown>>;

interface FieldBase {
  readonly tab: Tab;
  /** Kept in Node-RED's credentials, never in the flow. */
  readonly credential?: true;
  /** Whether the field means anything with these settings; the editor hides it when not. */
  readonly applies?: (s: RawSettings) => boolean;
}
export type Field =
  | (FieldBase & {
      readonly kind: 'text';
      readonly default: '';
      readonly required?: true;
      /** Holds the id of a config node of this type (the editor shows a picker). */
      readonly configType?: string;
    })
  | (FieldBase & { readonly kind: 'integer'; readonly default: number | '' })
  | (FieldBase & { readonly kind: 'flag'; readonly default: boolean })
  | (FieldBase & {
      readonly kind: 'choice';
      readonly options: readonly string[];
      readonly default: string;
      /** Options shown through the catalogue (`<field>.<option>`) rather than as their value. */
      readonly labelled: boolean;
    });

/** Strings and numbers as trimmed text; anything else (objects, null) counts as blank. */
export function text(value: unknown): string {
  if (typeof value === 'string') return value.trim();
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : '';
}

/** The fields that pick one of a list (test/unit/fields.test.ts holds this to the table). */
export const CHOICE_FIELDS = [
  'endpoint',
  'regionId',
  'transport',
  'authMode',
  'registerKind',
  'registerVia',
  'signmethod',
] as const;
export type ChoiceField = (typeof CHOICE_FIELDS)[number];

/** A choice as the settings hold it, or its default when blank (an unknown value is kept, to be refused). */
export function choiceOf(s: RawSettings, field: ChoiceField): string {
  return text(s[field]) || FIELDS[field].default;
}

/** Whether the login goes through an HTTPS call (token or registration) that needs the auth host. */
export function usesHttps(s: RawSettings): boolean {
  const mode = choiceOf(s, 'authMode');
  return (
    mode === 'https' ||
    (mode === 'register' && choiceOf(s, 'registerKind') === 'preregistered' && choiceOf(s, 'registerVia') === 'https')
  );
}

/** Token logins and MQTT registration happen over TLS only (PLATFORM.md §4, §5). */
export function needsTls(s: RawSettings): boolean {
  const mode = choiceOf(s, 'authMode');
  return mode === 'https' || (mode === 'register' && !usesHttps(s));
}

/** A device of a product config node: ProductKey and ProductSecret come from there. */
export const ofProduct = (s: RawSettings): boolean => text(s.product) !== '';
/** A sub-device: it rides on its gateway's connection, so where and how to connect do not apply. */
export const viaGateway = (s: RawSettings): boolean => text(s.gateway) !== '';
const direct = (s: RawSettings): boolean => !viaGateway(s);
/** Whether the transport is TLS or WSS, where the CA and verification settings apply. */
export const usesTls = (s: RawSettings): boolean => direct(s) && /^(tls|wss)$/.test(choiceOf(s, 'transport'));
const endpointIs =
  (kind: EndpointKind) =>
  (s: RawSettings): boolean =>
    direct(s) && choiceOf(s, 'endpoint') === kind;
const registers = (s: RawSettings): boolean => choiceOf(s, 'authMode') === 'register';

export const FIELDS = Object.freeze({
  name: { kind: 'text', default: '', tab: 'connection' },
  /** The product config node (its ProductKey, ProductSecret and thing model); blank: none. */
  product: { kind: 'text', default: '', configType: 'aliyun-iot-product', tab: 'connection' },
  // Checked by its rule, not marked required: with a product node it comes from there.
  productKey: { kind: 'text', default: '', tab: 'connection', applies: (s: RawSettings) => !ofProduct(s) },
  deviceName: { kind: 'text', default: '', required: true, tab: 'connection' },
  deviceSecret: { kind: 'text', default: '', credential: true, tab: 'connection' },
  gateway: { kind: 'text', default: '', configType: 'aliyun-iot-device', tab: 'connection' },
  endpoint: {
    kind: 'choice',
    options: ENDPOINT_KINDS,
    default: 'public',
    labelled: true,
    tab: 'connection',
    applies: direct,
  },
  regionId: {
    kind: 'choice',
    options: REGIONS,
    default: 'cn-shanghai',
    labelled: false,
    tab: 'connection',
    applies: endpointIs('public'),
  },
  instanceId: { kind: 'text', default: '', tab: 'connection', applies: endpointIs('instance') },
  host: { kind: 'text', default: '', tab: 'connection', applies: endpointIs('custom') },
  transport: {
    kind: 'choice',
    options: TRANSPORTS,
    default: 'tls',
    labelled: true,
    tab: 'connection',
    applies: direct,
  },
  port: { kind: 'integer', default: '', tab: 'connection', applies: direct },
  authMode: { kind: 'choice', options: AUTH_MODES, default: 'sign', labelled: true, tab: 'authentication' },
  productSecret: {
    kind: 'text',
    default: '',
    credential: true,
    tab: 'authentication',
    applies: (s: RawSettings) => direct(s) && registers(s) && !ofProduct(s),
  },
  registerKind: {
    kind: 'choice',
    options: REGISTER_KINDS,
    default: 'preregistered',
    labelled: true,
    tab: 'authentication',
    applies: (s: RawSettings) => direct(s) && registers(s),
  },
  registerVia: {
    kind: 'choice',
    options: REGISTER_VIA,
    default: 'https',
    labelled: true,
    tab: 'authentication',
    applies: (s: RawSettings) => direct(s) && registers(s) && choiceOf(s, 'registerKind') === 'preregistered',
  },
  secretStore: { kind: 'text', default: '', tab: 'authentication', applies: registers },
  authHost: {
    kind: 'text',
    default: '',
    tab: 'authentication',
    applies: (s: RawSettings) => direct(s) && usesHttps(s),
  },
  signmethod: { kind: 'choice', options: SIGN_METHODS, default: 'hmacsha256', labelled: false, tab: 'authentication' },
  clientId: { kind: 'text', default: '', tab: 'authentication', applies: direct },
  ca: { kind: 'text', default: '', tab: 'tls', applies: usesTls },
  servername: { kind: 'text', default: '', tab: 'tls', applies: usesTls },
  rejectUnauthorized: { kind: 'flag', default: true, tab: 'tls', applies: usesTls },
  keepalive: { kind: 'integer', default: 300, tab: 'delivery', applies: direct },
  cleanSession: { kind: 'flag', default: true, tab: 'delivery' },
  autoConnect: { kind: 'flag', default: true, tab: 'delivery' },
  queueSize: { kind: 'integer', default: 1000, tab: 'delivery' },
  /** Upstream messages per second; the platform's own limit is 30. */
  rateLimit: { kind: 'integer', default: 30, tab: 'delivery' },
  /**
   * Messages per second through a gateway's connection for all its sub-devices together; 0: none
   * beyond each sub-device's own pace (the platform documents no gateway-wide limit).
   */
  gatewayRateLimit: { kind: 'integer', default: 0, tab: 'delivery', applies: direct },
  persistQueue: { kind: 'flag', default: false, tab: 'delivery', applies: direct },
} as const satisfies Record<string, Field>);

export type FieldName = keyof typeof FIELDS;

export const FIELD_NAMES = Object.keys(FIELDS) as FieldName[];
