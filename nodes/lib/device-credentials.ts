// What the auth node hands out: credentials for any MQTT client, in each authentication mode.
import { registerOverHttps, requestToken } from './device-auth';
import { resolveEndpoint } from './endpoint';
import type { FormPostOptions } from './https-form';
import { registerOverMqtt } from './mqtt-register';
import type { DeviceOptions } from './options';
import type { AuthMode } from './fields';
import { signMqtt } from './sign';

export { AUTH_MODES, type AuthMode } from './fields';

/** Direct login: everything an MQTT client (the core mqtt-broker node, say) needs to connect. */
export function signedCredentials(options: DeviceOptions, now = Date.now()) {
  const endpoint = resolveEndpoint(options);
  const creds = signMqtt({ ...options, securemode: endpoint.securemode, timestamp: now });
  return {
    host: endpoint.host,
    port: endpoint.port,
    protocol: endpoint.protocol,
    url: endpoint.url,
    clientId: creds.clientId,
    username: creds.username,
    password: creds.password,
    securemode: endpoint.securemode,
    signmethod: options.signmethod,
    timestamp: now,
  };
}

export async function deviceCredentials(
  options: DeviceOptions,
  mode: AuthMode,
  http: FormPostOptions = {},
): Promise<Record<string, unknown>> {
  switch (mode) {
    case 'sign':
      return signedCredentials(options);
    case 'https':
      return { ...(await requestToken(options, http)) };
    case 'register':
      if (options.registerKind === 'registration-free') {
        return { ...(await registerOverMqtt(options, 'regnwl', http.timeoutMs)) };
      }
      return options.registerVia === 'mqtt'
        ? { ...(await registerOverMqtt(options, 'register', http.timeoutMs)) }
        : { ...(await registerOverHttps(options, http)) };
  }
}
