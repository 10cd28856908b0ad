// ForwardStage.reconfigure (config reload): an upstream still listed keeps its state and its
// connection only when it is made the same way; an encrypted upstream whose pins, CA file or
// timeouts changed gets a new transport, so the new settings judge its next connection.
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { ForwardStage, forwardOptions } from '../../src/resolve/forward.js';

const stages: ForwardStage[] = [];
afterEach(() => {
  for (const s of stages.splice(0)) s.close();
});

const DOT = 'tls://127.0.0.1:8853#dns.test';
const config = (upstream: Record<string, unknown>) => configSchema.parse({ upstreams: ['127.0.0.1:5399', DOT], upstream });

describe('ForwardStage.reconfigure', () => {
  const cases: { what: string; from: Record<string, unknown>; to: Record<string, unknown>; dotKept: boolean }[] = [
    { what: 'nothing changed', from: {}, to: {}, dotKept: true },
    { what: 'a setting the transport does not use (strategy)', from: {}, to: { strategy: 'parallel' }, dotKept: true },
    { what: 'a pin added for the DoT upstream', from: {}, to: { spkiPins: { [DOT]: 'x'.repeat(43) + '=' } }, dotKept: false },
    { what: 'the idle timeout', from: {}, to: { idleTimeoutMs: 5000 }, dotKept: false },
    { what: 'the query timeout', from: {}, to: { timeoutMs: 900 }, dotKept: false },
  ];
  for (const c of cases) {
    it(`${c.what}: the DoT upstream is ${c.dotKept ? 'kept' : 'made anew'}, the plain one kept`, () => {
      const stage = new ForwardStage(forwardOptions(config(c.from)));
      stages.push(stage);
      const [plain, dot] = stage.upstreams;
      stage.reconfigure(forwardOptions(config(c.to)));
      expect(stage.upstreams.map((u) => u.label)).toEqual([plain!.label, dot!.label]);
      expect(stage.upstreams[0]).toBe(plain);
      if (c.dotKept) expect(stage.upstreams[1]).toBe(dot);
      else {
        expect(stage.upstreams[1]).not.toBe(dot);
        expect(stage.upstreams[1]!.transport).not.toBe(dot!.transport);
      }
    });
  }
});
