#!/usr/bin/env node
/**
 * `teams-bot-app-package`: writes the Teams app package (manifest.json + color.png + outline.png, zipped) for a bot
 * deployed by the TeamsDelegatedAuthBot construct. Standalone: node built-ins and fflate only (esbuild inlines it).
 *
 *   teams-bot-app-package --app-id <guid> --name "Graph Bot" --endpoint https://abc.lambda-url.eu-west-1.on.aws/api/messages
 *   teams-bot-app-package --stack-outputs cdk-outputs.json --name "Graph Bot" --out graph-bot.zip
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AppPackageOptions, BOT_SCOPES, BotCommand, BotScope, buildPackageZip, MANIFEST_VERSION, UsageError, endpointDomain } from './manifest';

/** Text of `--help`. */
export const USAGE = `Usage: teams-bot-app-package [options]

Writes a Microsoft Teams app package (manifest.json v${MANIFEST_VERSION}, color.png, outline.png) as a zip file
that you upload in Teams (Apps > Manage your apps > Upload an app) or in the Teams admin center.

Where the bot is:
  --app-id <guid>              the bot's Microsoft App ID (Entra application (client) id)
  --endpoint <url>             the messaging endpoint URL (https); its host goes to validDomains
  --stack-outputs <file>       read both from \`cdk deploy --outputs-file <file>\` (output keys containing
                               "MessagingEndpoint" and "AppId"); flags given explicitly win
  --stack <name>               the stack to read when the outputs file holds several

What users see:
  --name <text>                short app name, at most 30 characters (required)
  --full-name <text>           full name, at most 100 characters
  --short-description <text>   at most 80 characters
  --full-description <text>    at most 4000 characters
  --developer-name <text>      at most 32 characters (default: --name)
  --website-url <url>          developer website (default: the endpoint's origin)
  --privacy-url <url>          privacy statement (default: the endpoint's origin)
  --terms-url <url>            terms of use (default: the endpoint's origin)
  --accent-color <#rrggbb>     accent and colour-icon background (default #4F52B2)
  --app-version <x.y.z>        app version; raise it for every upload of a changed package (default 1.0.0)
  --command <title=description>  a command in the command menu (repeatable; default: "sign out")
  --no-commands                no command menu

Identity:
  --teams-app-id <guid>        the Teams app id (default: the bot's app id)
  --sso-resource <uri>         webApplicationInfo.resource (default api://botid-{appId}); must equal the
                               Application ID URI of the app registration and the construct's SSO resource
  --valid-domain <host>        an extra validDomains entry (repeatable)
  --scopes <list>              comma-separated, from ${BOT_SCOPES.join(', ')} (default: all three)

Output:
  --out <file>                 the zip to write (default: teams-app-package.zip)
  -h, --help                   this text
`;

/** What the output file of `cdk deploy --outputs-file` gave us. */
export interface StackOutputValues {
  appId?: string;
  endpoint?: string;
}

function matchKey(keys: string[], needle: string, file: string, stack: string): string | undefined {
  const found = keys.filter((k) => k.toLowerCase().includes(needle.toLowerCase()));
  if (found.length > 1) {
    throw new UsageError(`${file}: stack ${stack} has several outputs containing "${needle}" (${found.join(', ')}); pass the value as a flag`);
  }
  return found[0];
}

/**
 * Reads the app id and the messaging endpoint from a `cdk deploy --outputs-file` JSON file
 * (`{"<stack>": {"<output key>": "<value>"}}`): the output whose key contains `MessagingEndpoint`, and the one whose
 * key contains `AppId`.
 */
export function readStackOutputs(file: string, stackName?: string): StackOutputValues {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`--stack-outputs ${file}: cannot read JSON (${(e as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`--stack-outputs ${file}: expected an object {"<stack>": {"<output>": "<value>"}}`);
  }
  const stacks = Object.entries(parsed as Record<string, unknown>).filter(
    (entry): entry is [string, Record<string, unknown>] => typeof entry[1] === 'object' && entry[1] !== null && !Array.isArray(entry[1]),
  );
  let candidates = stacks.filter(([, outputs]) => Object.keys(outputs).some((k) => /messagingendpoint/i.test(k)));
  if (stackName !== undefined) {
    candidates = stacks.filter(([name]) => name === stackName);
    if (candidates.length === 0) {
      throw new UsageError(`--stack-outputs ${file}: no stack named ${JSON.stringify(stackName)} (found: ${stacks.map(([n]) => n).join(', ') || 'none'})`);
    }
  }
  if (candidates.length === 0) {
    throw new UsageError(`--stack-outputs ${file}: no stack has an output whose key contains "MessagingEndpoint"`);
  }
  if (candidates.length > 1) {
    throw new UsageError(`--stack-outputs ${file}: several stacks have a bot (${candidates.map(([n]) => n).join(', ')}); choose one with --stack`);
  }
  const [name, outputs] = candidates[0];
  const keys = Object.keys(outputs);
  const endpointKey = matchKey(keys, 'MessagingEndpoint', file, name);
  const appIdKey = matchKey(keys, 'AppId', file, name);
  const str = (k: string | undefined): string | undefined => (k !== undefined && typeof outputs[k] === 'string' ? outputs[k] as string : undefined);
  return { endpoint: str(endpointKey), appId: str(appIdKey) };
}

function parseCommand(spec: string): BotCommand {
  const i = spec.indexOf('=');
  if (i <= 0) {
    throw new UsageError(`--command ${JSON.stringify(spec)} must look like "title=description"`);
  }
  return { title: spec.slice(0, i).trim(), description: spec.slice(i + 1).trim() };
}

/** Parsed command line: the package options plus where to write it. */
export interface CliInvocation {
  readonly help: boolean;
  readonly out: string;
  readonly options?: AppPackageOptions;
  /** Fields that fell back to a placeholder default (printed as a warning). */
  readonly defaulted: string[];
}

/** Parses the arguments (without `node` and the script path). Throws {@link UsageError} on a mistake. */
export function parseCli(argv: string[]): CliInvocation {
  let values: Record<string, string | string[] | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        'app-id': { type: 'string' },
        'endpoint': { type: 'string' },
        'stack-outputs': { type: 'string' },
        'stack': { type: 'string' },
        'name': { type: 'string' },
        'full-name': { type: 'string' },
        'short-description': { type: 'string' },
        'full-description': { type: 'string' },
        'developer-name': { type: 'string' },
        'website-url': { type: 'string' },
        'privacy-url': { type: 'string' },
        'terms-url': { type: 'string' },
        'accent-color': { type: 'string' },
        'app-version': { type: 'string' },
        'command': { type: 'string', multiple: true },
        'no-commands': { type: 'boolean' },
        'teams-app-id': { type: 'string' },
        'sso-resource': { type: 'string' },
        'valid-domain': { type: 'string', multiple: true },
        'scopes': { type: 'string' },
        'out': { type: 'string' },
        'help': { type: 'boolean', short: 'h' },
      },
    }).values as Record<string, string | string[] | boolean | undefined>;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const s = (k: string): string | undefined => values[k] as string | undefined;
  const out = s('out') ?? 'teams-app-package.zip';
  if (values.help === true) {
    return { help: true, out, defaulted: [] };
  }
  const fromStack: StackOutputValues = s('stack-outputs') !== undefined ? readStackOutputs(s('stack-outputs')!, s('stack')) : {};
  if (s('stack') !== undefined && s('stack-outputs') === undefined) {
    throw new UsageError('--stack needs --stack-outputs');
  }
  const appId = s('app-id') ?? fromStack.appId;
  const endpoint = s('endpoint') ?? fromStack.endpoint;
  const name = s('name');
  if (appId === undefined) {
    throw new UsageError('--app-id is required (or --stack-outputs with an output whose key contains "AppId")');
  }
  if (endpoint === undefined) {
    throw new UsageError('--endpoint is required (or --stack-outputs with an output whose key contains "MessagingEndpoint")');
  }
  if (name === undefined) {
    throw new UsageError('--name is required');
  }
  let origin: string;
  try {
    origin = new URL(endpoint).origin;
    endpointDomain(endpoint);
  } catch {
    throw new UsageError(`--endpoint ${JSON.stringify(endpoint)} is not a URL`);
  }
  const defaulted: string[] = [];
  const urlOr = (flag: string): string => {
    const v = s(flag);
    if (v !== undefined) {
      return v;
    }
    defaulted.push(`--${flag}`);
    return `${origin}/`;
  };
  if (values['no-commands'] === true && values.command !== undefined) {
    throw new UsageError('--command and --no-commands exclude each other');
  }
  const commands: BotCommand[] = values['no-commands'] === true
    ? []
    : ((values.command as string[] | undefined) ?? []).map(parseCommand);
  if (values['no-commands'] !== true && commands.length === 0) {
    commands.push({ title: 'sign out', description: 'Forget your sign-in: the bot deletes the tokens it keeps for you' });
  }
  const scopes = (s('scopes') ?? BOT_SCOPES.join(','))
    .split(',').map((x) => x.trim()).filter((x) => x.length > 0) as BotScope[];
  const options: AppPackageOptions = {
    appId,
    teamsAppId: s('teams-app-id'),
    name,
    fullName: s('full-name'),
    endpoint,
    shortDescription: s('short-description') ?? 'Answers as you, with your Microsoft Graph permissions.',
    fullDescription: s('full-description')
      ?? 'A bot that signs you in with Microsoft Entra ID and works on your behalf with delegated Microsoft Graph permissions.',
    developerName: s('developer-name') ?? name,
    websiteUrl: urlOr('website-url'),
    privacyUrl: urlOr('privacy-url'),
    termsOfUseUrl: urlOr('terms-url'),
    version: s('app-version') ?? '1.0.0',
    accentColor: s('accent-color') ?? '#4F52B2',
    ssoResource: s('sso-resource'),
    extraValidDomains: (values['valid-domain'] as string[] | undefined) ?? [],
    scopes,
    commands,
  };
  return { help: false, out, options, defaulted };
}

/** Runs the CLI; returns the exit status (0 ok, 1 failure, 2 usage error). */
export function main(argv: string[], io: { stdout: (s: string) => void; stderr: (s: string) => void } = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
}): number {
  try {
    const inv = parseCli(argv);
    if (inv.help || inv.options === undefined) {
      io.stdout(USAGE);
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
