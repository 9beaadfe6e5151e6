/**
 * The handlers' log lines (one JSON object per line on stdout/stderr, lambda/shared/log.ts) as the playground sees
 * them: kept in a ring buffer for the API and the page, printed to the terminal from `--log-level` up, and the
 * receiver's one `request` line per request handed to whoever is waiting for it (the activity's outcome: `hot_path`,
 * `pending`, `signed_out`...), matched through the async context of that request.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** One handler log line. */
export interface LogLine {
  level: string;
  event: string;
  [field: string]: unknown;
}

const LEVELS = ['debug', 'info', 'warn', 'error'];

/** Captures the log lines of the handlers running in this process. */
export class HandlerLogs {
  readonly lines: LogLine[] = [];
  private readonly request = new AsyncLocalStorage<LogLine[]>();

  constructor(private readonly printLevel: string, private readonly max = 500) {}

  /**
   * Wraps process.stdout/stderr.write (the handlers' logger writes its lines there directly, not through `console`):
   * JSON log lines are captured, anything else passes through.
   */
  install(): void {
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write.bind(stream) as (...args: unknown[]) => boolean;
      stream.write = ((chunk: unknown, ...rest: unknown[]) => {
        const line = typeof chunk === 'string' ? parse(chunk.replace(/\n$/, '')) : undefined;
        if (!line) return original(chunk, ...rest);
        this.lines.push(line);
        if (this.lines.length > this.max) this.lines.shift();
        this.request.getStore()?.push(line);
        if (LEVELS.indexOf(line.level) >= LEVELS.indexOf(this.printLevel)) return original(chunk, ...rest);
        const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
        done?.();
        return true;
      }) as typeof stream.write;
    }
  }

  /** Runs `fn`, collecting the log lines written in its async context. */
  async capture<T>(fn: () => Promise<T>): Promise<{ result: T; lines: LogLine[] }> {
    const lines: LogLine[] = [];
    const result = await this.request.run(lines, fn);
    return { result, lines };
  }
}

function parse(s: string): LogLine | undefined {
  if (!s.startsWith('{"level"')) return undefined;
  try {
    const o = JSON.parse(s);
    return typeof o.level === 'string' && typeof o.event === 'string' ? o : undefined;
  } catch {
    return undefined;
  }
}
