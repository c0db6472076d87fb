/**
 * A throwaway certificate authority for tests, made with the openssl CLI (Debian's openssl
 * package; .ci/run installs it): a CA, and server certificates it signs for localhost and
 * 127.0.0.1, written as PEM files the edge reads with --tls-cert and --tls-key. edgeTls() is
 * the set-up most TLS suites share: a CA, one certificate for the edge, and its flags.
 */
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificate {
  /** The leaf, then the CA: a chain, as --tls-cert takes it. */
  readonly certFile: string;
  readonly keyFile: string;
  /** The leaf's SHA-256 fingerprint as node:tls shows it (`fingerprint256`). */
  readonly fingerprint256: string;
  /** base64 SHA-256 of the leaf's public key (Chromium's --ignore-certificate-errors-spki-list). */
  readonly spkiSha256: string;
}

export interface TestCa {
  readonly dir: string;
  /** The CA certificate, for a client's `ca` option. */
  readonly caPem: Buffer;
  /** The CA certificate's file, for a client's --cacert. */
  readonly caFile: string;
  /** A new key and certificate for localhost, written under `name` in the CA's directory. */
  issue(name: string): TestCertificate;
  /** Removes the directory. */
  remove(): void;
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export function createTestCa(): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'hashedge-ca-'));
  openssl(['req', '-x509', ...EC_KEY, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=hashedge test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'], dir);
  writeFileSync(join(dir, 'leaf.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
  const caPem = readFileSync(join(dir, 'ca.pem'));
  let serial = 1;
  return {
    dir,
    caPem,
    caFile: join(dir, 'ca.pem'),
    issue(name) {
      openssl(['req', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=localhost ${name}`], dir);
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(serial++), '-days', '2', '-extfile', 'leaf.ext', '-out', `${name}.leaf.pem`], dir);
      const leaf = readFileSync(join(dir, `${name}.leaf.pem`));
      writeFileSync(join(dir, `${name}.pem`), Buffer.concat([leaf, caPem]));
      const x509 = new X509Certificate(leaf);
      const spki = x509.publicKey.export({ type: 'spki', format: 'der' });
      return {
        certFile: join(dir, `${name}.pem`),
        keyFile: join(dir, `${name}.key`),
        fingerprint256: x509.fingerprint256,
        spkiSha256: createHash('sha256').update(spki).digest('base64'),
      };
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A CA and the certificate it issued for an edge (named `edge` in the CA's directory). */
export interface EdgeTls {
  readonly ca: TestCa;
  readonly cert: TestCertificate;
  /** --tls-cert and --tls-key, to spread into an edge's flags. */
  readonly flags: { readonly 'tls-cert': string; readonly 'tls-key': string };
  /** Removes the CA's directory, the certificate's files with it. */
  remove(): void;
}

export function edgeTls(): EdgeTls {
  const ca = createTestCa();
  const cert = ca.issue('edge');
  return { ca, cert, flags: { 'tls-cert': cert.certFile, 'tls-key': cert.keyFile }, remove: ca.remove };
}
