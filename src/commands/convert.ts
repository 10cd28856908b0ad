// `c2dns convert FILE --to domains|hosts|rpz`: what c2dns understood from a feed, written back
// out in a simple format (after normalisation and the guard), e.g. to feed another resolver.
import { readFileSync } from 'node:fs';
import type { Guard } from '../blocklist/guard.js';
import { listConfig } from '../config/schema.js';
import { decodeFeed } from '../feeds/decode.js';
import { compileSource, type CompiledSource } from '../feeds/compile.js';

export type ConvertTarget = 'domains' | 'hosts' | 'rpz';

export function convertFile(path: string, format: string, guard: Guard): CompiledSource {
  const cfg = listConfig({ name: 'convert', path, format, maxBytes: 1024 * 1024 * 1024 });
  return compileSource(decodeFeed(readFileSync(path), { maxBytes: cfg.maxBytes }), cfg, guard, new Map(), Date.now());
}

export function render(c: CompiledSource, to: ConvertTarget): string {
  const rs = c.rules;
  const blocks: number[] = [];
  for (let i = 0; i < rs.length; i++) if (rs.kind(i) === 'block') blocks.push(i);
  const head = `# converted by c2dns from ${/^[aeiou]/.test(c.format) ? 'an' : 'a'} ${c.format} source: ${blocks.length} block rules, ${c.report.rejected} rejected lines, ${c.guarded.length} guarded, ${c.notEnforceable.length} not enforceable by DNS\n`;
  if (to === 'domains') return head + blocks.map((i) => `${rs.matchMode(i) === 'below' ? '*.' : ''}${rs.name(i)}\n`).join('');
  if (to === 'hosts') return head + blocks.filter((i) => rs.matchMode(i) !== 'below').map((i) => `0.0.0.0 ${rs.name(i)}\n`).join('');
  return rpz(c, head.replace(/^#/, ';'));
}

function rpz(c: CompiledSource, head: string): string {
  const out = [head, '$TTL 300\n', '@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 300\n', '@ NS localhost.\n'];
  const rs = c.rules;
  const rdata = (i: number): string => {
    if (rs.kind(i) === 'allow') return 'CNAME rpz-passthru.';
    const a = rs.action(i);
    if (a === 'nodata') return 'CNAME *.';
    if (a === 'drop') return 'CNAME rpz-drop.';
    if (a === 'tcp-only') return 'CNAME rpz-tcp-only.';
    return 'CNAME .';
  };
  for (let i = 0; i < rs.length; i++) {
    const m = rs.matchMode(i);
    if (m !== 'below') out.push(`${rs.name(i)} ${rdata(i)}\n`);
    if (m !== 'exact') out.push(`*.${rs.name(i)} ${rdata(i)}\n`);
  }
  return out.join('');
}
