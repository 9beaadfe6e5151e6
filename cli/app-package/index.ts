#!/usr/bin/env node
/**
 * `teams-bot-app-package`: writes the Teams app package (manifest.json + color.png + outline.png, zipped) for a bot
 * deployed by the TeamsDelegatedAuthBot construct. Standalone: node built-ins, fflate and ajv (esbuild inlines them);
 * reads the manifest schema and its version from the installed package.
 *
 *   teams-bot-app-package --app-id <guid> --name "Graph Bot" --endpoint https://abc.lambda-url.eu-west-1.on.aws/api/messages
 *   teams-bot-app-package --stack-outputs cdk-outputs.json --name "Graph Bot" --out graph-bot.zip
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { USAGE, parseCli } from './args';
import { MANIFEST_VERSION, UsageError, buildPackageZip, endpointDomain } from './manifest';
import { packageVersion } from '../shared/package';

export { USAGE, parseCli } from './args';
export { readStackOutputs } from './stack-outputs';

/** Where the tool writes text. */
export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

const PROCESS_IO: CliIo = { stdout: (s) => process.stdout.write(s), stderr: (s) => process.stderr.write(s) };

/** Runs the CLI; returns the exit status (0 ok, 1 failure, 2 usage error). */
export function main(argv: string[], io: CliIo = PROCESS_IO): number {
  try {
    const inv = parseCli(argv);
    if (inv.action === 'help' || inv.options === undefined) {
      io.stdout(inv.action === 'version' ? `${packageVersion()}\n` : USAGE);
      return 0;
    }
    const zip = buildPackageZip(inv.options);
    const out = resolve(inv.out);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, zip);
    for (const flag of inv.defaulted) {
      io.stderr(`warning: ${flag} not given; using the endpoint's origin. Set a real page before publishing to your org's catalog.\n`);
    }
    io.stdout(`wrote ${out} (manifest ${MANIFEST_VERSION}, bot ${inv.options.appId}, validDomains ${endpointDomain(inv.options.endpoint)})\n`);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`teams-bot-app-package: ${e.message}\nRun with --help for the options.\n`);
      return 2;
    }
    io.stderr(`teams-bot-app-package: ${(e as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
