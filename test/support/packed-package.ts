/**
 * The package as a consumer installs it: `npm pack` of this repository (its build output, no scripts run), unpacked
 * into `<work>/node_modules/cdk-teams-delegated-auth-bot` of a new temporary folder, the way npm would lay it out.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The consumer's folder and the unpacked package in its node_modules. */
export interface PackedPackage {
  /** A new temporary folder: the consumer's project (remove it when done). */
  readonly work: string;
  /** `<work>/node_modules/cdk-teams-delegated-auth-bot`, the tarball's contents. */
  readonly pkgDir: string;
}

/** Packs the repository at `root` and unpacks the tarball into a new consumer folder named after `prefix`. */
export function packForConsumer(root: string, prefix: string): PackedPackage {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  try {
    execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: root, stdio: ['ignore', 'ignore', 'ignore'] });
    const tgz = fs.readdirSync(work).find((f) => f.endsWith('.tgz'))!;
    const pkgDir = path.join(work, 'node_modules', 'cdk-teams-delegated-auth-bot');
    fs.mkdirSync(pkgDir, { recursive: true });
    execFileSync('tar', ['-xzf', path.join(work, tgz), '-C', pkgDir, '--strip-components=1']);
    return { work, pkgDir };
  } catch (err) {
    fs.rmSync(work, { recursive: true, force: true });
    throw err;
  }
}
