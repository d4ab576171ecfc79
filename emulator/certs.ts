// A throwaway certificate authority for the emulator's TLS, WSS and HTTPS listeners. Keys come from
// node:crypto (fast); node-forge only writes the X.509 structures, which node:crypto cannot.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import { hostname, networkInterfaces } from 'node:os';
import forge from 'node-forge';
import { isWildcardHost } from './access';

export interface CertificateAuthority {
  /** PEM of the CA certificate: what a client trusts. */
  cert: string;
  /** PEM of the CA's private key: needed only to issue server certificates. */
  key: string;
}

export interface ServerCertificate {
  cert: string;
  key: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

function rsaKeys(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(pem);
  return { privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e) };
}

function serial(): string {
  // Positive and minimally encoded (DER): the first byte 0x01-0x7f, so no sign byte and no padding.
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes.toString('hex');
}

function validity(cert: forge.pki.Certificate, days: number): void {
  cert.validity.notBefore = new Date(Date.now() - DAY_MS);
  cert.validity.notAfter = new Date(Date.now() + days * DAY_MS);
}

export function createCertificateAuthority(commonName = 'Aliyun IoT Emulator Local CA'): CertificateAuthority {
  const keys = rsaKeys();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  validity(cert, 3650);
  const subject = [
    { name: 'commonName', value: commonName },
    { name: 'organizationName', value: 'node-red-aliyun-iot emulator' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) };
}

/**
 * A server certificate for the given host names and IP addresses, signed by `ca`. node-forge writes
 * the DER; one in a few hundred of its encodings was refused by OpenSSL ("illegal padding") in a
 * test run, so each certificate is loaded once here and made again if OpenSSL refuses it.
 */
export function issueServerCertificate(ca: CertificateAuthority, names: readonly string[]): ServerCertificate {
  for (let attempt = 1; ; attempt++) {
    const issued = issueOnce(ca, names);
    try {
      createSecureContext(issued);
      return issued;
    } catch (err) {
      if (attempt >= 5) throw err;
    }
  }
}

function issueOnce(ca: CertificateAuthority, names: readonly string[]): ServerCertificate {
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const keys = rsaKeys();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  validity(cert, 825);
  cert.setSubject([{ name: 'commonName', value: names[0] ?? 'localhost' }]);
  cert.setIssuer(caCert.subject.attributes);
  const isIp = (n: string) => /^[\d.]+$/.test(n) || n.includes(':');
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: names.map((n) => (isIp(n) ? { type: 7, ip: n } : { type: 2, value: n })) },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) };
}

/**
 * The names the server certificate is valid for: the host, the extra names given, loopback, and on
 * every interface (0.0.0.0, ::) this machine's name and addresses, which is how teammates reach it.
 */
export function serverCertificateNames(host: string, extra: readonly string[]): string[] {
  for (const name of extra) {
    const dnsName = !/^[\d.]+$/.test(name) && /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(name);
    if (!dnsName && isIP(name) === 0)
      throw new Error(`serverNames: "${name}" is neither a host name nor an IP address`);
  }
  const names = [host, ...extra, 'localhost', '127.0.0.1', '::1'];
  if (isWildcardHost(host)) {
    names.push(hostname());
    for (const list of Object.values(networkInterfaces())) for (const i of list ?? []) names.push(i.address);
  }
  // A zone (`fe80::1%eth0`) cannot be named in a certificate.
  return [...new Set(names.filter((n) => n !== '' && !n.includes('%')))];
}
