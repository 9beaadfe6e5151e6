/** Handler bundles for tests that run a handler the way Lambda runs it (one bundled file in its own process). */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * The esbuild arguments of the build's bundle task for `entry` (`.projen/tasks.json`, written from .projenrc.ts), so
 * tests run exactly what ships: SDK bundled, minified, dangerous requires as errors, and the credential providers a
 * Lambda function never reaches left external (the bundle then lives outside any node_modules, so a test that reached
 * them would fail: the environment credentials the tests set must be enough, as in Lambda).
 */
export function buildBundleArgs(entry: string): string[] {
  const tasks = JSON.parse(fs.readFileSync(path.join(ROOT, '.projen', 'tasks.json'), 'utf8')).tasks;
  const name = `bundle:${entry.replace(/\.ts$/, '')}`;
  const args: string[] | undefined = tasks[name]?.steps?.[0]?.execArgs;
  if (args?.[0] !== 'esbuild') throw new Error(`no esbuild task ${name} in .projen/tasks.json`);
  return args.slice(1).filter((a) => !a.startsWith('--outfile=') && !a.startsWith('--metafile='));
}

/**
 * Bundles a handler entry point (e.g. `lambda/worker/index.ts`) with the build's own arguments ({@link buildBundleArgs})
 * into a fresh temp dir (`{prefix}…`); returns the bundle's path and the dir (remove it when done). Nothing is left
 * behind on failure.
 */
export function bundleHandler(entry: string, prefix: string): { file: string; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const file = path.join(dir, 'index.js');
  try {
    execFileSync(path.join(ROOT, 'node_modules', '.bin', 'esbuild'), [...buildBundleArgs(entry), '--log-level=error', `--outfile=${file}`],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { file, dir };
}
