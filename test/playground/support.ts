/**
 * Test support for the playground: starts the shipped bin (`assets/cli/playground/index/index.js`, built by
 * `npx projen bundle`) in its own process on a free port, like a user's `npx teams-bot-playground`, and talks to its
 * scripted API.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.join(__dirname, '..', '..');
export const PLAYGROUND_BIN = path.join(ROOT, 'assets', 'cli', 'playground', 'index', 'index.js');

/** A running playground process. */
export interface RunningPlayground {
  url: string;
  proc: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  api(route: string, init?: { method?: string; body?: unknown }): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

/** Starts the bin with `args` (plus `--port 0`) and waits for its URL. */
export async function startPlaygroundProcess(args: string[] = [], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunningPlayground> {
  if (!fs.existsSync(PLAYGROUND_BIN)) throw new Error(`${PLAYGROUND_BIN} is missing: run "npx projen bundle" first`);
  const proc = spawn(process.execPath, [PLAYGROUND_BIN, '--port', '0', ...args], { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the playground did not start:\n${out}`)), 30_000);
    const check = (): void => {
      const m = /Teams bot playground: (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    proc.stdout!.on('data', check);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the playground exited (${code}):\n${out}`));
    });
  });
  const api = async (route: string, init?: { method?: string; body?: unknown }): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${url}playground/api/${route}`, {
      method: init?.method ?? 'GET',
      headers: init?.body !== undefined ? { 'content-type': 'application/json' } : {},
      body: init?.body !== undefined ? JSON.stringify(init.body) : undefined,
    });
    return { status: res.status, body: await res.json() };
  };
  return {
    url,
    proc,
    api,
    output: () => out,
    stop: () => new Promise<void>((resolve) => {
      if (proc.exitCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
      setTimeout(() => proc.kill('SIGKILL'), 5000).unref();
    }),
  };
}

/** Waits until `check` returns a value (polling), or fails with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The first sign-in URL of the local IdP (`…/oauth2/v2.0/authorize?…`) in transcript entries (a card's button). */
export function signInUrlOf(entries: any[]): string | undefined {
  return /"(https?:\/\/[^"\s]+\/oauth2\/v2\.0\/authorize\?[^"\s]+)"/.exec(JSON.stringify(entries))?.[1];
}

/** Runs the bin to its end (`test SCRIPT`, or options it refuses): its exit code and everything it printed. */
export function runPlaygroundBin(
  args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const options = { timeout: opts.timeoutMs ?? 90_000, env: opts.env ?? process.env };
    execFile(process.execPath, [PLAYGROUND_BIN, ...args], options, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as any).code === 'number' ? (err as any).code : 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}
