/**
 * Parent side of the benchmark child processes: the warm-latency worker (bench/warm-child.cjs, IPC) and one-shot
 * cold starts (bench/cold-child.cjs).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { median } from './stats';

const BENCH_DIR = path.resolve(__dirname, '..');

/** Result of one warm request. */
export interface WarmResult {
  ms: number;
  /** HTTP status, or a worker's status (`replied`…). */
  status?: number | string;
  body?: string;
}

/** A warm-latency child process with bundles loaded. */
export class WarmChild {
  /** Starts a child with `env` (merged over a minimal base) and loads `subjects` ({name: [bundle path, export]}). */
  static async start(env: Record<string, string>, subjects: Record<string, string>): Promise<WarmChild> {
    const child = fork(path.join(BENCH_DIR, 'warm-child.cjs'), [], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NODE_NO_WARNINGS: '1', ...env },
      execArgv: ['--expose-gc'],
      // The handlers' log lines go to /dev/null (they are formatted, as in Lambda, but not kept).
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      const onMsg = (m: { ready?: boolean }) => {
        if (m.ready) {
          child.off('message', onMsg);
          resolve();
        }
      };
      child.on('message', onMsg);
      child.once('exit', (code) => reject(new Error(`warm child exited early (${code})`)));
    });
    const w = new WarmChild(child);
    await w.call({ op: 'load', subjects });
    return w;
  }

  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly stderr: string[] = [];
  private exited = false;

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (msg: { id?: number; ok?: boolean; result?: unknown; error?: string }) => {
      if (msg.id === undefined) return;
      const w = this.waiting.get(msg.id);
      if (!w) return;
      this.waiting.delete(msg.id);
      if (msg.ok) w.resolve(msg.result);
      else w.reject(new Error(`warm child: ${msg.error}`));
    });
    child.stderr?.on('data', (c: Buffer) => {
      this.stderr.push(c.toString('utf8'));
      while (this.stderr.length > 20) this.stderr.shift();
    });
    child.on('exit', (code) => {
      this.exited = true;
      for (const w of this.waiting.values()) w.reject(new Error(`warm child exited (${code}): ${this.stderr.join('').slice(-2000)}`));
      this.waiting.clear();
    });
  }

  private call<T>(msg: Record<string, unknown>): Promise<T> {
    if (this.exited) return Promise.reject(new Error('warm child has exited'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...msg, id });
    });
  }

  /** One timed request. */
  invoke(subject: string, event: unknown, keepBody = false): Promise<WarmResult> {
    return this.call({ op: 'invoke', subject, event, keepBody });
  }

  /** `n` timed requests of `event`, with `placeholder` in its body replaced by a fresh counter each time. */
  repeat(subject: string, event: { body?: unknown }, n: number, placeholder: string): Promise<{ ms: number[]; statuses: Record<string, number> }> {
    return this.call({ op: 'repeat', subject, event, n, placeholder });
  }

  /** Sets environment variables in the child (read by the floors at call time). */
  async setEnv(vars: Record<string, string>): Promise<void> {
    await this.call({ op: 'env', vars });
  }

  /** Memory after a full GC. */
  memory(): Promise<{ rss: number; heapUsed: number; heapTotal: number; external: number }> {
    return this.call({ op: 'memory' });
  }

  /** Ends the child. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    await Promise.race([done, new Promise((r) => setTimeout(r, 3000))]);
    if (!this.exited) this.child.kill('SIGKILL');
  }
}

/** Result of one cold start (ms). */
export interface ColdResult {
  /** HTTP status, or a worker's status (`replied`…). */
  status?: number | string;
  loadMs: number;
  firstRequestMs: number;
  totalMs: number;
  sinceProcessStartMs: number;
  /** From spawn to the result line, measured by the parent (includes Node's boot and process creation). */
  wallMs: number;
  rssBytes: number;
}

/** The medians of one subject's cold starts (ms to 0.1 ms, RSS in MB to 0.1), and every total. */
export interface ColdSummary {
  n: number;
  medianTotalMs: number;
  medianLoadMs: number;
  medianFirstRequestMs: number;
  medianWallMs: number;
  medianRssMB: number;
  totalsMs: number[];
}

/** Summarizes one subject's cold starts. */
export function summarizeColdStarts(rs: readonly ColdResult[]): ColdSummary {
  const ms = (x: number) => Math.round(x * 10) / 10;
  return {
    n: rs.length,
    medianTotalMs: ms(median(rs.map((r) => r.totalMs))),
    medianLoadMs: ms(median(rs.map((r) => r.loadMs))),
    medianFirstRequestMs: ms(median(rs.map((r) => r.firstRequestMs))),
    medianWallMs: ms(median(rs.map((r) => r.wallMs))),
    medianRssMB: Math.round(median(rs.map((r) => r.rssBytes)) / 1e5) / 10,
    totalsMs: rs.map((r) => ms(r.totalMs)),
  };
}

/** Runs one fresh Node process that loads `bundle` and serves `event`. */
export function coldStart(bundle: string, event: unknown, env: Record<string, string>, eventFile: string): Promise<ColdResult> {
  writeFileSync(eventFile, JSON.stringify(event));
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [path.join(BENCH_DIR, 'cold-child.cjs'), bundle, eventFile], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', NODE_NO_WARNINGS: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let wallMs: number | undefined;
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      if (wallMs === undefined && out.includes('BENCH_RESULT ')) wallMs = performance.now() - t0;
    });
    child.stderr.on('data', (c: Buffer) => { err += c.toString('utf8'); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', () => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
      if (!line) {
        reject(new Error(`cold start of ${bundle} gave no result: ${err.slice(-1500)}`));
        return;
      }
      const parsed = JSON.parse(line.slice('BENCH_RESULT '.length));
      if (parsed.error) {
        reject(new Error(`cold start of ${bundle} failed: ${parsed.error}`));
        return;
      }
      resolve({ ...parsed, wallMs: wallMs ?? performance.now() - t0 });
    });
  });
}
