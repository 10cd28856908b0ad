// Preflight for encrypted DNS (called by ./preflight.ts): the listeners' certificate and key
// (tls.certFile/keyFile) readable, PEM, and belonging together, an expired certificate a warning;
// upstream.caFile readable and holding certificates. Nothing binds before these pass.
import { parseListen } from '../../config/encrypted.js';
import type { Config } from '../../config/schema.js';
import { readCaFile } from '../../upstream/verify.js';
import { loadTlsPair, pairWarnings, TlsFileError } from '../tls-material.js';

export interface TlsPreflight {
  errors: { key: string; problem: string }[];
  warnings: string[];
}

export function tlsPreflight(cfg: Config): TlsPreflight {
  const out: TlsPreflight = { errors: [], warnings: [] };
  const secure = cfg.listen.some((s) => {
    const r = parseListen(s);
    return typeof r !== 'string' && r.kind !== 'dns';
  });
  const { certFile, keyFile } = cfg.tls;
  if (secure && certFile !== undefined && keyFile !== undefined) {
    try {
      out.warnings.push(...pairWarnings(loadTlsPair(certFile, keyFile), certFile));
    } catch (err) {
      if (err instanceof TlsFileError) out.errors.push({ key: err.key, problem: err.message });
      else throw err;
    }
  }
  if (cfg.upstream.caFile !== null) {
    const r = readCaFile(cfg.upstream.caFile);
    if (typeof r === 'string') out.errors.push({ key: 'upstream.caFile', problem: r });
  }
  return out;
}
