// Questions in the CHAOS (and Hesiod) class are about the server that answers them: version.bind,
// hostname.bind, id.server (RFC 4892), authors.bind. Forwarded, they would tell any client the
// upstream's software version and host name, and no client needs CH data from the Internet. Every
// class CH or HS question is answered here with REFUSED and EDE 21 (Not Supported), never
// forwarded, before any other stage looks at the name.
import { CLASS_CH, CLASS_HS, Ede, Rcode } from '../dns/constants.js';
import { edeOption } from '../dns/opt.js';
import { errorReply } from '../dns/synth.js';
import { requireNext, type StageModule } from './module.js';
import type { Answer, Query, Stage } from './types.js';

const NOT_SUPPORTED = edeOption(Ede.NOT_SUPPORTED, 'c2dns: CH/HS class not served');

export class ChaosStage implements Stage {
  refused = 0;

  constructor(private readonly next: Stage) {}

  resolve(q: Query): Answer | Promise<Answer> {
    const c = q.pq.qclass;
    if (c !== CLASS_CH && c !== CLASS_HS) return this.next.resolve(q);
    this.refused++;
    return { action: 'refused', reply: errorReply(q.msg, q.pq, Rcode.REFUSED, NOT_SUPPORTED), stored: null, upstream: null };
  }
}

export const chaosStage: StageModule<ChaosStage> = {
  name: 'chaos',
  enabled: () => true,
  create: (_d, next) => new ChaosStage(requireNext('chaos', next)),
};
