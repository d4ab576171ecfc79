// The two platform roots Node's bundled store lacks (GlobalSign R1 for the legacy hosts, the private
// Aliyun IoT Root CA for port 8883), shipped in the package and trusted beside Node's own roots.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { PEM_CERTIFICATE } from './rules';

export const BUNDLED_CA_FILES = ['aliyun-iot-root-ca.pem', 'globalsign-root-ca-r1.pem'] as const;

// Built: dist/nodes/lib -> dist/certs. From source: nodes/lib -> certs. Same relative path.
const CERT_DIR = join(__dirname, '..', '..', 'certs');

let platformRoots: readonly string[] | undefined;

export function bundledRootCAs(): readonly string[] {
  platformRoots ??= Object.freeze(BUNDLED_CA_FILES.map((file) => readFileSync(join(CERT_DIR, file), 'utf8')));
  return platformRoots;
}

let defaultList: readonly string[] | undefined;

/** The platform roots plus Node's own, computed once: every TLS connection shares the array. */
export function defaultCAs(): readonly string[] {
  defaultList ??= Object.freeze([...bundledRootCAs(), ...rootCertificates]);
  return defaultList;
}

/** The certificates in a user's PEM text; empty when it holds none. */
export function splitPem(text: string): string[] {
  return text.match(PEM_CERTIFICATE) ?? [];
}
