/**
 * A one-line progress display: rewritten in place on a terminal, printed as periodic lines
 * otherwise (logs, CI).
 */

/**
 * Formats seconds as e.g. `42s`, `3m05s`, `2h07m`.
 * @param seconds - the duration.
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Writes progress lines to a stream (stderr by default). */
export class Progress {
  private lastPrint = 0;
  private width = 0;

  /**
   * @param stream - where lines go (stderr by default).
   * @param intervalMs - the least time between two lines when the stream is not a terminal.
   */
  constructor(
    private readonly stream: NodeJS.WritableStream & {
      isTTY?: boolean;
      columns?: number;
    } = process.stderr,
    private readonly intervalMs = 10_000,
  ) {}

  /**
   * Shows `line`: at once on a terminal, else when the interval has passed since the last.
   * @param line - the progress line.
   */
  update(line: string): void {
    if (this.stream.isTTY) {
      const fitted = line.slice(0, (this.stream.columns ?? Infinity) - 1); // one row: \r works
      this.stream.write(`\r${fitted.padEnd(this.width)}`);
      this.width = fitted.length;
      return;
    }
    const now = Date.now();
    if (now - this.lastPrint >= this.intervalMs) {
      this.lastPrint = now;
      this.stream.write(`${line}\n`);
    }
  }

  /** Ends the in-place line on a terminal, so that what follows starts on a new line. */
  end(): void {
    if (this.stream.isTTY && this.width > 0) this.stream.write('\n');
    this.width = 0;
  }

  /**
   * Prints `line` as a permanent line (ends the in-place line on a terminal).
   * @param line - the line.
   */
  log(line: string): void {
    if (this.stream.isTTY && this.width > 0) this.stream.write(`\r${''.padEnd(this.width)}\r`);
    this.width = 0;
    this.stream.write(`${line}\n`);
  }
}
