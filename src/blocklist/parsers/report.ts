// What a parser tells about the lines it could not use: counted, with the first few kept as examples.
export interface RejectedLine {
  line: number;
  text: string;
  reason: string;
}

export class ParseReport {
  accepted = 0;
  rejected = 0;
  readonly examples: RejectedLine[] = [];

  constructor(private readonly maxExamples = 20) {}

  reject(line: number, text: string, reason: string): void {
    this.rejected++;
    if (this.examples.length < this.maxExamples) this.examples.push({ line, text: text.slice(0, 200), reason });
  }
}
