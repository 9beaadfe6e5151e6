/** The command line of `teams-bot-app-package`: flags → what to do. */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { AppPackageOptions, BOT_SCOPES, BotCommand, BotScope, MANIFEST_VERSION, UsageError, endpointDomain } from './manifest';
import { StackOutputValues, readStackOutputs } from './stack-outputs';

/** Text of `--help`. */
export const USAGE = `Usage: teams-bot-app-package [options]

Writes a Microsoft Teams app package (manifest.json v${MANIFEST_VERSION}, color.png, outline.png) as a zip file
that you upload in Teams (Apps > Manage your apps > Upload an app) or in the Teams admin center. The manifest is
checked against the Teams manifest schema the package ships.

Where the bot is:
  --app-id <guid>              the bot's Microsoft App ID (Entra application (client) id)
  --endpoint <url>             the messaging endpoint URL (https); its host goes to validDomains
  --stack-outputs <file>       read both from \`cdk deploy --outputs-file <file>\`: the construct's outputs
                               <bot>MessagingEndpoint<hash> and <bot>AppId<hash>; flags given explicitly win
  --stack <name>               the stack to read when the outputs file holds several bots
  --bot <id>                   the bot to read when a stack holds several: the part of its output keys before
                               "MessagingEndpoint" (its construct path, e.g. Bot)

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
  --color-icon <file.png>      your colour icon, 192x192 (default: drawn in the accent colour)
  --outline-icon <file.png>    your outline icon, 32x32, white on transparent (default: drawn)
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
  -v, --version                the version of cdk-teams-delegated-auth-bot this tool belongs to
`;

const FLAGS = {
  'app-id': { type: 'string' },
  'endpoint': { type: 'string' },
  'stack-outputs': { type: 'string' },
  'stack': { type: 'string' },
  'bot': { type: 'string' },
  'name': { type: 'string' },
  'full-name': { type: 'string' },
  'short-description': { type: 'string' },
  'full-description': { type: 'string' },
  'developer-name': { type: 'string' },
  'website-url': { type: 'string' },
  'privacy-url': { type: 'string' },
  'terms-url': { type: 'string' },
  'accent-color': { type: 'string' },
  'color-icon': { type: 'string' },
  'outline-icon': { type: 'string' },
  'app-version': { type: 'string' },
  'command': { type: 'string', multiple: true },
  'no-commands': { type: 'boolean' },
  'teams-app-id': { type: 'string' },
  'sso-resource': { type: 'string' },
  'valid-domain': { type: 'string', multiple: true },
  'scopes': { type: 'string' },
  'out': { type: 'string' },
  'help': { type: 'boolean', short: 'h' },
  'version': { type: 'boolean', short: 'v' },
} as const;

const parseStrict = (argv: string[]) => parseArgs({ args: argv, strict: true, allowPositionals: false, options: FLAGS }).values;
/** The parsed flags, by name. */
type Flags = ReturnType<typeof parseStrict>;

/** Parsed command line: what to do, and for `package` the package options plus where to write it. */
export interface CliInvocation {
  readonly action: 'help' | 'version' | 'package';
  readonly out: string;
  readonly options?: AppPackageOptions;
  /** Fields that fell back to a placeholder default (printed as a warning). */
  readonly defaulted: string[];
}

function parseFlags(argv: string[]): Flags {
  try {
    return parseStrict(argv);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** The app id and endpoint: explicit flags, else the stack outputs file. */
function locateBot(f: Flags): { appId: string; endpoint: string; origin: string } {
  if (f['stack-outputs'] === undefined && (f.stack !== undefined || f.bot !== undefined)) {
    throw new UsageError(`--${f.stack !== undefined ? 'stack' : 'bot'} needs --stack-outputs`);
  }
  const fromStack: StackOutputValues = f['stack-outputs'] !== undefined
    ? readStackOutputs(f['stack-outputs'], { stack: f.stack, bot: f.bot })
    : {};
  const appId = f['app-id'] ?? fromStack.appId;
  const endpoint = f.endpoint ?? fromStack.endpoint;
  if (appId === undefined) {
    throw new UsageError('--app-id is required (or --stack-outputs with the construct\'s AppId output)');
  }
  if (endpoint === undefined) {
    throw new UsageError('--endpoint is required (or --stack-outputs with the construct\'s MessagingEndpoint output)');
  }
  try {
    endpointDomain(endpoint);
    return { appId, endpoint, origin: new URL(endpoint).origin };
  } catch {
    throw new UsageError(`--endpoint ${JSON.stringify(endpoint)} is not a URL`);
  }
}

function parseCommand(spec: string): BotCommand {
  const i = spec.indexOf('=');
  if (i <= 0) {
    throw new UsageError(`--command ${JSON.stringify(spec)} must look like "title=description"`);
  }
  return { title: spec.slice(0, i).trim(), description: spec.slice(i + 1).trim() };
}

function commandsOf(f: Flags): BotCommand[] {
  if (f['no-commands'] === true) {
    if (f.command !== undefined) {
      throw new UsageError('--command and --no-commands exclude each other');
    }
    return [];
  }
  const commands = (f.command ?? []).map(parseCommand);
  return commands.length > 0
    ? commands
    : [{ title: 'sign out', description: 'Forget your sign-in: the bot deletes the tokens it keeps for you' }];
}

function readIcon(flag: 'color-icon' | 'outline-icon', f: Flags): Uint8Array | undefined {
  const file = f[flag];
  try {
    return file === undefined ? undefined : readFileSync(file);
  } catch (e) {
    throw new UsageError(`--${flag} ${file}: cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Builds the package options from the flags; URLs not given fall back to the endpoint's origin (listed in `defaulted`). */
function packageOptions(f: Flags, defaulted: string[]): AppPackageOptions {
  const { appId, endpoint, origin } = locateBot(f);
  if (f.name === undefined) {
    throw new UsageError('--name is required');
  }
  const urlOr = (flag: 'website-url' | 'privacy-url' | 'terms-url'): string => {
    if (f[flag] === undefined) {
      defaulted.push(`--${flag}`);
    }
    return f[flag] ?? `${origin}/`;
  };
  return {
    appId,
    teamsAppId: f['teams-app-id'],
    name: f.name,
    fullName: f['full-name'],
    endpoint,
    shortDescription: f['short-description'] ?? 'Answers as you, with your Microsoft Graph permissions.',
    fullDescription: f['full-description']
      ?? 'A bot that signs you in with Microsoft Entra ID and works on your behalf with delegated Microsoft Graph permissions.',
    developerName: f['developer-name'] ?? f.name,
    websiteUrl: urlOr('website-url'),
    privacyUrl: urlOr('privacy-url'),
    termsOfUseUrl: urlOr('terms-url'),
    version: f['app-version'] ?? '1.0.0',
    accentColor: f['accent-color'] ?? '#4F52B2',
    ssoResource: f['sso-resource'],
    extraValidDomains: f['valid-domain'] ?? [],
    scopes: (f.scopes ?? BOT_SCOPES.join(',')).split(',').map((x) => x.trim()).filter((x) => x.length > 0) as BotScope[],
    commands: commandsOf(f),
    colorIcon: readIcon('color-icon', f),
    outlineIcon: readIcon('outline-icon', f),
  };
}

/** Parses the arguments (without `node` and the script path). Throws {@link UsageError} on a mistake. */
export function parseCli(argv: string[]): CliInvocation {
  const f = parseFlags(argv);
  const out = f.out ?? 'teams-app-package.zip';
  if (f.help === true) {
    return { action: 'help', out, defaulted: [] };
  }
  if (f.version === true) {
    return { action: 'version', out, defaulted: [] };
  }
  const defaulted: string[] = [];
  const options = packageOptions(f, defaulted);
  return { action: 'package', out, options, defaulted };
}
