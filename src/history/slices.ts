// Main-thread work cut into slices of time: a hunt or a retro-hunt preparation inside the server
// checks `due()` between small steps of its loops and gives the event loop a turn once the slice
// has run for its time, so answering never waits longer than about one slice. By time, not by a
// count of rows: a count that is a few ms on a quiet machine is tens of ms in code V8 has not
// optimised yet (a publish runs these loops once) or on a busy machine.

/** The default slice: at 46k q/s a 5 ms turn is ~230 queries waiting in the 4 MiB socket buffer. */
export const SLICE_MS = 5;

const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class Slices {
  /** Turns given so far. */
  turns = 0;
  private started: number;

  constructor(
    /** Called for a turn of the event loop (tests count them). */
    private readonly turn: () => Promise<void> = immediate,
    readonly ms = SLICE_MS,
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.started = clock();
  }

  /** The current slice has run for its time: call next() before more work. */
  due(): boolean {
    return this.clock() - this.started >= this.ms;
  }

  /** A turn of the event loop; the next slice starts after it. */
  async next(): Promise<void> {
    this.turns++;
    await this.turn();
    this.started = this.clock();
  }

  /** next() when due. */
  async check(): Promise<void> {
    if (this.due()) await this.next();
  }
}
