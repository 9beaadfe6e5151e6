/**
 * The real handlers, unchanged, in this process: the receiver bundle (`assets/lambda/receiver/index/index.js`) and the
 * worker (the default worker bundle, or the user's worker file bundled with esbuild at run time and rebuilt when it
 * or one of its inputs changes). They read their configuration from `process.env` (set before they load) and reach
 * DynamoDB, KMS, Secrets Manager, SSM and Lambda through their own AWS SDK clients at `AWS_ENDPOINT_URL_<SERVICE>`.
 */
import { existsSync, mkdtempSync, rmSync, watch, type FSWatcher } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { LocalFunction } from './aws/services';

export { packageRoot } from '../shared/package';

const load = createRequire(__filename);

/** Loads a CommonJS bundle fresh (not from the require cache) and returns its `handler` export. */
export function loadHandler(file: string): LocalFunction {
  const path = resolve(file);
  delete load.cache[path];
  const mod = load(path) as { handler?: LocalFunction };
  if (typeof mod.handler !== 'function') throw new Error(`${file} does not export a function named "handler"`);
  return mod.handler;
}

/** Where a bundled handler of the package is. */
export function bundlePath(root: string, name: 'receiver' | 'worker' | 'assistant'): string {
  const file = join(root, 'assets', 'lambda', name, 'index', 'index.js');
  if (!existsSync(file)) throw new Error(`${file} is missing: run "npx projen bundle" in a checkout`);
  return file;
}

/** A user's worker file, bundled and reloaded on change. */
export class WorkerFile {
  private current?: LocalFunction;
  private watchers: FSWatcher[] = [];
  private readonly outDir = mkdtempSync(join(tmpdir(), 'teams-bot-playground-'));
  private generation = 0;
  private timer?: NodeJS.Timeout;

  constructor(readonly file: string, private readonly kitPath: string) {}

  /** Called after each (re)build: an error message, or undefined when the new code is live. */
  onReload: (error?: string) => void = () => {};

  /** The live handler (the last build that succeeded). */
  handler(): LocalFunction {
    if (!this.current) throw new Error(`the worker ${this.file} did not build`);
    return this.current;
  }

  /** Builds once and starts watching the inputs. Throws if the first build fails. */
  async start(): Promise<void> {
    const err = await this.build();
    if (err) throw new Error(err);
  }

  private async build(): Promise<string | undefined> {
    const out = join(this.outDir, `worker-${++this.generation}.js`);
    let inputs: string[] = [this.file];
    try {
      const esbuild = findEsbuild();
      if (esbuild) {
        const result = await esbuild.build({
          entryPoints: [this.file],
          bundle: true,
          platform: 'node',
          target: 'node22',
          format: 'cjs',
          outfile: out,
          mainFields: ['module', 'main'],
          metafile: true,
          logLevel: 'silent',
          sourcemap: 'inline',
          alias: { 'cdk-teams-delegated-auth-bot/worker': this.kitPath },
        });
        inputs = Object.keys(result.metafile.inputs).filter((p) => !p.includes('node_modules')).map((p) => resolve(p));
        this.current = loadHandler(out);
      } else {
        // No esbuild next to the project: Node loads the file itself (JavaScript, or TypeScript on Node >= 23.6).
        this.current = loadHandler(this.file);
      }
      this.watch(inputs);
      return undefined;
    } catch (e) {
      this.watch(inputs);
      const errors = (e as { errors?: Array<{ text: string; location?: { file: string; line: number } }> }).errors;
      return errors?.length ? errors.map((x) => `${x.location ? `${x.location.file}:${x.location.line}: ` : ''}${x.text}`).join('\n') : String((e as Error).message ?? e);
    }
  }

  private watch(files: string[]): void {
    for (const w of this.watchers) w.close();
    this.watchers = files.filter((f) => existsSync(f)).map((f) => watch(f, () => this.changed()));
  }

  private changed(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.build().then((err) => this.onReload(err));
    }, 100);
  }

  stop(): void {
    clearTimeout(this.timer);
    for (const w of this.watchers) w.close();
    rmSync(this.outDir, { recursive: true, force: true });
  }
}

interface Esbuild {
  build(o: Record<string, unknown>): Promise<{ metafile: { inputs: Record<string, unknown> } }>;
}

/** esbuild from the user's project (the current directory), else the one next to this package; undefined if none. */
function findEsbuild(): Esbuild | undefined {
  for (const base of [join(process.cwd(), 'package.json'), __filename]) {
    try {
      return createRequire(base)('esbuild') as Esbuild;
    } catch {
      // next
    }
  }
  return undefined;
}
