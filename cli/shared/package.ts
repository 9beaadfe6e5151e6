/**
 * Where the installed package is, for the command-line tools: they run from `assets/cli/<tool>/index.js` inside the
 * npm package (or from `cli/<tool>/` in a checkout) and read files the package ships (`package.json`, `schemas/`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The npm package name the tools belong to. */
export const PACKAGE_NAME = 'cdk-teams-delegated-auth-bot';

/** The package's root directory: the nearest directory above `from` whose package.json is this package's. */
export function packageRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === PACKAGE_NAME) {
      return dir;
    }
    if (dirname(dir) === dir) {
      throw new Error(`cannot find the ${PACKAGE_NAME} package above ${from}`);
    }
  }
}

/** The package's version (what `--version` prints). */
export function packageVersion(root: string = packageRoot()): string {
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
}

/** A file the package ships, by its path from the package root (e.g. `schemas/...`). */
export function packageFile(relativePath: string, root: string = packageRoot()): string {
  return join(root, relativePath);
}
