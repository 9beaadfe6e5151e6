/**
 * Bundles of the benchmark subjects. Our handlers are built by the project (`npx projen bundle` →
 * assets/lambda/<name>/index/index.js); the comparison subjects (bench/fixtures) are built here with the very same
 * esbuild options (CJS, node22, minified, `module,main` main fields, every dependency inlined except the
 * `--external:` packages of the project's receiver bundle task).
 */
// Benchmark code runs from the repository: its dependencies are the project's devDependencies.
/* eslint-disable import/no-extraneous-dependencies */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildSync } from 'esbuild';

/** Repository root. */
export const ROOT = path.resolve(__dirname, '..', '..');
/** Where the fixture bundles go (gitignored). */
export const TMP = path.join(ROOT, 'bench', 'results', 'tmp');

/** Path of a project handler bundle. */
export function assetBundle(handler: string): string {
  return path.join(ROOT, 'assets', 'lambda', handler, 'index', 'index.js');
}

/** The worker kit bundle (`cdk-teams-delegated-auth-bot/worker`, built from kit/ by `npx projen bundle`). */
export const KIT_BUNDLE = path.join(ROOT, 'assets', 'kit', 'index', 'index.js');

/** Names of the handlers the project has bundled (directories under assets/lambda with an index/index.js). */
export function listProjectHandlers(): string[] {
  const dir = path.join(ROOT, 'assets', 'lambda');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((h) => existsSync(assetBundle(h))).sort();
}

/** Runs `npx projen bundle` when a handler bundle is missing (or when `force`). */
export function ensureProjectBundles(handlers: string[], force = false): void {
  if (!force && handlers.every((h) => existsSync(assetBundle(h)))) return;
  const r = spawnSync('npx', ['projen', 'bundle'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('npx projen bundle failed');
  for (const h of handlers) if (!existsSync(assetBundle(h))) throw new Error(`bundle missing after projen bundle: ${assetBundle(h)}`);
}

/**
 * The `--external:` packages of the project's receiver bundle task (.projen/tasks.json), so the comparison subjects
 * are bundled exactly like our handlers (e.g. credential providers the Lambda runtime already has).
 */
export function projectExternals(): string[] {
  try {
    const tasks = JSON.parse(readFileSync(path.join(ROOT, '.projen', 'tasks.json'), 'utf8')) as {
      tasks: Record<string, { steps?: Array<{ exec?: string; execArgs?: string[] }> }>;
    };
    const steps = tasks.tasks['bundle:lambda/receiver/index']?.steps ?? [];
    const args = steps.flatMap((st) => st.execArgs ?? (st.exec ?? '').split(/\s+/));
    return args.filter((a) => a.startsWith('--external:')).map((a) => a.slice('--external:'.length));
  } catch {
    return [];
  }
}

/** Builds bench/fixtures/<name>.ts into bench/results/tmp/<name>/index.js with the project's handler options. */
export function buildFixture(name: string): string {
  const outfile = path.join(TMP, name, 'index.js');
  buildSync({
    entryPoints: [path.join(ROOT, 'bench', 'fixtures', `${name}.ts`)],
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    minify: true,
    mainFields: ['module', 'main'],
    legalComments: 'none',
    external: projectExternals(),
    outfile,
    logLevel: 'error',
    logOverride: { 'require-resolve-not-external': 'error', 'unsupported-require-call': 'error' },
  });
  return outfile;
}

/** Size of a bundle: raw bytes and gzip (level 9) bytes. */
export interface BundleSize { file: string; rawBytes: number; gzipBytes: number; rawKB: number; gzipKB: number }

/** Measures a bundle file. KB = 1000 bytes. */
export function bundleSize(file: string): BundleSize {
  const raw = readFileSync(file);
  const gz = gzipSync(raw, { level: 9 });
  return {
    file: path.relative(ROOT, file),
    rawBytes: statSync(file).size,
    gzipBytes: gz.length,
    rawKB: Math.round(raw.length / 100) / 10,
    gzipKB: Math.round(gz.length / 100) / 10,
  };
}
