// One run of a job at a time; requests made while it runs coalesce into one more run. Every
// request's promise settles after a run that started after the request: what the request wanted
// to see is included.
export class Serial {
  private current: Promise<void> | null = null;
  private next: Promise<void> | null = null;

  constructor(
    private readonly job: () => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  request(): Promise<void> {
    if (this.next !== null) return this.next;
    if (this.current === null) return (this.current = this.start());
    this.next = this.current.then(() => {
      this.next = null;
      return (this.current = this.start());
    });
    return this.next;
  }

  /** Settles when nothing is running or queued. */
  async idle(): Promise<void> {
    while (this.current !== null || this.next !== null) await (this.next ?? this.current);
  }

  private async start(): Promise<void> {
    try {
      await this.job();
    } catch (err) {
      this.onError(err);
    } finally {
      this.current = null;
    }
  }
}
