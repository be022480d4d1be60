/**
 * A one-line progress bar, drawn only when the stream is a terminal: piped
 * or redirected output (CI logs, tests) never gets carriage returns.
 */
import { formatBytes } from './output.js';

const REDRAW_MS = 80;

export class Progress {
  readonly enabled: boolean;
  #stream: NodeJS.WriteStream;
  #total: number;
  #label: string;
  #lastDraw = 0;
  #drawn = false;

  constructor(stream: NodeJS.WriteStream, label: string, total: number) {
    this.#stream = stream;
    this.#label = label;
    this.#total = Math.max(total, 1);
    this.enabled = stream.isTTY === true;
  }

  update(done: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.#lastDraw < REDRAW_MS && done < this.#total) return;
    this.#lastDraw = now;
    const fraction = Math.min(done / this.#total, 1);
    const columns = this.#stream.columns || 80;
    const text = ` ${Math.floor(fraction * 100)}%  ${formatBytes(done)} / ${formatBytes(this.#total)}`;
    const width = Math.max(10, Math.min(40, columns - this.#label.length - text.length - 6));
    const filled = Math.round(fraction * width);
    this.#stream.write(`\r  ${this.#label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}]${text}`);
    this.#drawn = true;
  }

  /** Erases the bar. Idempotent. */
  clear(): void {
    if (!this.#drawn) return;
    this.#drawn = false;
    this.#stream.write('\r\x1b[K');
  }
}
