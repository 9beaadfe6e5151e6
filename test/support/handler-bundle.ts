/** Handler bundles for tests that run a handler the way Lambda runs it (one bundled file in its own process). */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * Bundles a handler entry point (e.g. `lambda/worker/index.ts`) with the flags of the build (.projenrc.ts: esbuild,
 * node22, cjs, AWS SDK bundled, `--main-fields=module,main`, minified, dangerous requires as errors) into a fresh temp
 * dir (`{prefix}…`); returns the bundle's path and the dir (remove it when done). Nothing is left behind on failure.
 * One difference: the build leaves the credential providers a Lambda function never reaches external; here everything
 * is inlined, so the bundle also runs outside Lambda (the tests give credentials through the environment either way).
 */
export function bundleHandler(entry: string, prefix: string): { file: string; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const file = path.join(dir, 'index.js');
  try {
    execFileSync(path.join(ROOT, 'node_modules', '.bin', 'esbuild'), [
      entry,
      '--bundle', '--platform=node', '--target=node22', '--format=cjs', '--main-fields=module,main',
      '--minify', '--legal-comments=none', '--log-override:require-resolve-not-external=error',
      '--log-override:unsupported-require-call=error',
      '--tsconfig=lambda/tsconfig.json', '--log-level=error', `--outfile=${file}`,
    ], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { file, dir };
}
