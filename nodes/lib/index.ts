// The package's main entry: the platform core, free of Node-RED, for function nodes and other tools.
export {
  signMqtt,
  signAuth,
  signRegister,
  signContent,
  hmacHex,
  isSignMethod,
  SIGN_METHODS,
  DEFAULT_SIGN_METHOD,
} from './sign';
export type {
  SignMethod,
  MqttSignInput,
  MqttCredentials,
  AuthSignInput,
  AuthSignedForm,
  RegisterSignInput,
  RegisterSignedForm,
} from './sign';
export {
  resolveEndpoint,
  mqttHost,
  REGIONS,
  TRANSPORTS,
  ENDPOINT_KINDS,
  DEFAULT_PORTS,
  WEBSOCKET_PATH,
} from './endpoint';
export type { EndpointInput, ResolvedEndpoint, EndpointKind, Transport, RegionId } from './endpoint';
export { validateDeviceOptions, validateQos, LIMITS, DEFAULTS, OPTION_ERROR_CODES } from './options';
export { FIELDS, FIELD_NAMES, TABS, type FieldName, type Field } from './fields';
export type { DeviceOptions, OptionError, OptionErrorCode, ValidationResult, RawDeviceOptions } from './options';
export { bundledRootCAs, defaultCAs } from './ca';
export { AliyunIotError } from './errors';
export { messageFor, LANGUAGES } from './messages';
export type { Language } from './messages';
