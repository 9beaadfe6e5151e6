/**
 * The typing indicator while the user waits for the first token: sent at once, then again every `intervalMs` (Teams
 * shows one for a few seconds), until the first visible post (an informative update or the first text). `stop()` waits
 * for a typing indicator in flight, so none ever arrives after the answer has started.
 */

/** Repeats a typing indicator until stopped. */
export class TypingIndicator {
  private timer?: NodeJS.Timeout;
  private inFlight: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly sendTyping: () => Promise<void>, private readonly intervalMs: number) {}

  /** Sends the first indicator and schedules the next ones. */
  async start(): Promise<void> {
    this.tick();
    await this.inFlight;
  }

  /** Stops repeating; resolves once no indicator is in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.inFlight;
  }

  private tick(): void {
    if (this.stopped) return;
    // The kit's typing() never throws (failures are logged): a lost indicator is cosmetic.
    this.inFlight = this.sendTyping().finally(() => {
      if (!this.stopped) this.timer = setTimeout(() => this.tick(), this.intervalMs);
    });
  }
}
