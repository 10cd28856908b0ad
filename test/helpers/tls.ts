// Certificates for TLS tests, made with the openssl CLI in a temp directory: a self-signed CA and
// leaf certificates it signs (EC P-256), for 127.0.0.1, ::1 and localhost unless told otherwise.
import { execFileSync } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCa {
  dir: string;
  certFile: string;
  keyFile: string;
  certPem: string;
}

export interface TestLeaf {
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
  /** RFC 7469 pin of the leaf's public key (base64 SHA-256 of the DER SubjectPublicKeyInfo). */
  spkiPin: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

let serial = 0;

export function makeCa(name = 'c2dns test CA', dir = mkdtempSync(join(tmpdir(), 'c2dns-tls-'))): TestCa {
  const tag = `ca${++serial}`;
  const keyFile = join(dir, `${tag}.key`);
  const certFile = join(dir, `${tag}.pem`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile], dir);
  openssl(
    ['req', '-x509', '-new', '-key', keyFile, '-sha256', '-days', '30', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', certFile],
    dir,
  );
  return { dir, certFile, keyFile, certPem: readFileSync(certFile, 'utf8') };
}

/** A leaf signed by `ca` for `names` (DNS names and IP addresses). */
export function makeLeaf(ca: TestCa, names: string[] = ['127.0.0.1', '::1', 'localhost'], o: { days?: number; cn?: string } = {}): TestLeaf {
  const tag = `leaf${++serial}`;
  const dir = ca.dir;
  const keyFile = join(dir, `${tag}.key`);
  const csr = join(dir, `${tag}.csr`);
  const certFile = join(dir, `${tag}.pem`);
  const ext = join(dir, `${tag}.ext`);
  const san = names.map((n) => (/^[\d.]+$/.test(n) || n.includes(':') ? `IP:${n}` : `DNS:${n}`)).join(',');
  writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile], dir);
  openssl(['req', '-new', '-key', keyFile, '-subj', `/CN=${o.cn ?? names[0]}`, '-out', csr], dir);
  openssl(['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-set_serial', String(Date.now() * 1000 + serial), '-sha256', '-days', String(o.days ?? 30), '-extfile', ext, '-out', certFile], dir);
  const certPem = readFileSync(certFile, 'utf8');
  return { certFile, keyFile, certPem, keyPem: readFileSync(keyFile, 'utf8'), spkiPin: pinOf(certPem) };
}

export function pinOf(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}
