// Servers, upstreams and sockets a test starts, closed after each test in reverse order of start.
import { afterEach } from 'vitest';

type Closable = { close(): Promise<void> };

/** Registers the afterEach hook in the calling test file; returns `track`, which hands back what it is given. */
export function closeAfterEach(): <X extends Closable>(x: X) => X {
  const open: Closable[] = [];
  afterEach(async () => {
    for (const x of open.splice(0).reverse()) await x.close();
  });
  return (x) => {
    open.push(x);
    return x;
  };
}
