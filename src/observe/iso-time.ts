// ISO 8601 times (Date#toISOString's text) for the per-query paths. toISOString formats through
// a printf-style routine: ~7,500 instructions a call, the largest single cost of a query log line
// whenever queries come less than one per millisecond. The text of the current second is made
// once; a millisecond only adds its three digits.

/** "000" … "999". */
export const MILLIS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

export class IsoSeconds {
  private sec = NaN;
  /** toISOString() of the second, up to and with the dot: "2026-12-04T04:22:11."; "" when it has no such form. */
  private head = '';

  /**
   * The text up to the milliseconds for epoch ms `ms` ("YYYY-MM-DDTHH:MM:SS."), or null where only
   * toISOString() gives it (a fraction of a millisecond, a year outside 0000-9999).
   */
  secondOf(ms: number): string | null {
    const sec = Math.floor(ms / 1000);
    if (sec !== this.sec) {
      this.sec = sec;
      const iso = new Date(sec * 1000).toISOString();
      this.head = iso.length === 24 ? iso.slice(0, 20) : '';
    }
    return this.head === '' || !Number.isInteger(ms) ? null : this.head;
  }

  /** new Date(ms).toISOString(), the same text. */
  text(ms: number): string {
    const head = this.secondOf(ms);
    return head === null ? new Date(ms).toISOString() : `${head}${MILLIS[ms - this.sec * 1000]!}Z`;
  }
}
