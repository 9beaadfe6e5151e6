#!/usr/bin/env node
/**
 * `npx teams-bot-playground`: the whole bot on this machine, in a browser, with no Azure and no AWS
 * (docs/playground.md). `npx teams-bot-playground test script.json` runs a conversation script without a browser.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseScript, runScript } from './script';
import { startPlayground, workerName, type PlaygroundOptions } from './server';
import { isModelId, REGION_PATTERN } from '../../src/private/assistant';
import { packageVersion } from '../shared/package';

const USAGE = `Usage: teams-bot-playground [options]
       teams-bot-playground test SCRIPT.json [options]

Runs the bot's real receiver and worker on this machine with local stand-ins for Teams (Bot Connector), Entra ID,
Microsoft Graph, DynamoDB, KMS, Secrets Manager, SSM and Lambda, and serves a Teams-like chat page.

Options:
  --port N            port on 127.0.0.1 (default 3978; 0 = any free port)
  --worker FILE       your worker (TypeScript or JavaScript, defineWorker from cdk-teams-delegated-auth-bot/worker);
                      bundled with esbuild when available and reloaded when it changes (default: the default worker)
  --idp local|entra   local: a local OpenID provider with test users (default); entra: your app registration
  --client-id ID      --idp entra: the app registration's client id
  --tenant-id ID      --idp entra: its tenant id
  --user-oid OID      --idp entra: the object id of the account you sign in with (the Teams user the page plays)
  --user-name NAME    --idp entra: that user's display name
                      (the client secret comes from the environment variable TEAMS_BOT_PLAYGROUND_CLIENT_SECRET)
  --data DIR          keep tables, keys, transcripts and fixtures in DIR across restarts
  --fixtures FILE     Microsoft Graph fixtures (JSON; created with the defaults if missing; re-read when edited)
  --sso               simulate Teams SSO (TDAB_SSO_ENABLED=true; the page exchanges the token silently)
  --token-lifetime S  lifetime of the local IdP's access tokens in seconds (default 3600; short values show refresh)
  --scopes "A B"      Graph scopes the bot asks for (default "User.Read Mail.Read Calendars.Read Files.Read")
  --log-level L       handler logs: debug, info, warn (default), error
  --assistant         the assistant worker (Bedrock and Graph tools) instead of the default worker
  --bedrock local|aws --assistant: local: a scripted model on a local Bedrock stand-in (default); aws: real Bedrock
                      with your AWS credentials from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
                      AWS_SESSION_TOKEN)
  --model ID          --assistant: the Bedrock model id or inference profile (required with --bedrock aws)
  --region R          --bedrock aws: the Bedrock region (default AWS_REGION, else us-east-1)
  --version           the package version
  -h, --help          this help
`;

function fail(message: string): never {
  process.stderr.write(`teams-bot-playground: ${message}\n\n${USAGE}`);
  process.exit(2);
}

/** Parses the command line into options (exits 2 with the usage on bad input). */
export function parseCommandLine(argv: string[]): { command: 'serve' | 'test' | 'help' | 'version'; script?: string; options: PlaygroundOptions } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        'port': { type: 'string' },
        'worker': { type: 'string' },
        'idp': { type: 'string' },
        'data': { type: 'string' },
        'fixtures': { type: 'string' },
        'sso': { type: 'boolean' },
        'log-level': { type: 'string' },
        'scopes': { type: 'string' },
        'client-id': { type: 'string' },
        'tenant-id': { type: 'string' },
        'user-oid': { type: 'string' },
        'user-name': { type: 'string' },
        'token-lifetime': { type: 'string' },
        'assistant': { type: 'boolean' },
        'bedrock': { type: 'string' },
        'model': { type: 'string' },
        'region': { type: 'string' },
        'help': { type: 'boolean', short: 'h' },
        'version': { type: 'boolean' },
      },
    });
  } catch (err) {
    fail((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) return { command: 'help', options: {} };
  if (v.version) return { command: 'version', options: {} };
  const [command, script, ...rest] = parsed.positionals;
  if (rest.length > 0 || (command !== undefined && command !== 'test')) fail(`unexpected argument "${command === 'test' ? rest[0] : command}"`);
  if (command === 'test' && !script) fail('test needs a script file');
  const port = v.port === undefined ? (command === 'test' ? 0 : 3978) : Number(v.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail('--port must be 0..65535');
  if (v.idp !== undefined && v.idp !== 'local' && v.idp !== 'entra') fail('--idp must be local or entra');
  const tokenLifetime = v['token-lifetime'] === undefined ? undefined : Number(v['token-lifetime']);
  if (tokenLifetime !== undefined && (!Number.isInteger(tokenLifetime) || tokenLifetime < 60)) fail('--token-lifetime must be an integer >= 60 (seconds)');
  if (v['log-level'] !== undefined && !['debug', 'info', 'warn', 'error'].includes(v['log-level'])) fail('--log-level must be debug, info, warn or error');
  const assistant = v.assistant ? assistantOptions(v) : undefined;
  if (!v.assistant && (v.bedrock !== undefined || v.model !== undefined || v.region !== undefined)) fail('--bedrock, --model and --region apply to --assistant');
  const options: PlaygroundOptions = {
    port,
    worker: v.worker,
    idp: v.idp as 'local' | 'entra' | undefined,
    data: v.data,
    fixtures: v.fixtures,
    sso: v.sso,
    logLevel: v['log-level'],
    graphScopes: v.scopes,
    accessTokenSeconds: tokenLifetime,
    assistant,
  };
  if (v.idp === 'entra') {
    const secret = process.env.TEAMS_BOT_PLAYGROUND_CLIENT_SECRET;
    if (!v['client-id'] || !v['tenant-id'] || !v['user-oid'] || !secret) fail('--idp entra needs --client-id, --tenant-id, --user-oid and TEAMS_BOT_PLAYGROUND_CLIENT_SECRET');
    options.entra = { clientId: v['client-id'], tenantId: v['tenant-id'], userOid: v['user-oid'], userName: v['user-name'], clientSecret: secret };
  }
  return { command: command === 'test' ? 'test' : 'serve', script, options };
}

/** `--assistant` with `--bedrock`, `--model`, `--region`; refuses what makes no sense together. */
function assistantOptions(v: { worker?: string; bedrock?: string; model?: string; region?: string }): NonNullable<PlaygroundOptions['assistant']> {
  if (v.worker !== undefined) fail('--assistant runs the assistant worker instead of yours: use --assistant or --worker, not both');
  if (v.bedrock !== undefined && v.bedrock !== 'local' && v.bedrock !== 'aws') fail('--bedrock must be local or aws');
  const bedrock = v.bedrock === 'aws' ? 'aws' : 'local';
  if (v.model !== undefined && !isModelId(v.model)) fail('--model must be a Bedrock model id, inference profile id or ARN');
  if (bedrock === 'aws' && v.model === undefined) {
    fail('--bedrock aws needs --model: a model or inference profile your account may invoke (e.g. us.anthropic.claude-3-5-haiku-20241022-v1:0)');
  }
  if (v.region !== undefined && bedrock !== 'aws') fail('--region applies to --bedrock aws (the local model has no region)');
  if (v.region !== undefined && !REGION_PATTERN.test(v.region)) fail('--region must be a region name such as us-east-1');
  return { bedrock, modelId: v.model, region: v.region };
}

async function main(): Promise<void> {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 22) process.stderr.write(`teams-bot-playground: Node ${process.versions.node}; Node 22 or later is supported\n`);
  const { command, script, options } = parseCommandLine(process.argv.slice(2));
  if (command === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  if (command === 'version') {
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }
  let parsedScript;
  if (command === 'test') {
    try {
      parsedScript = parseScript(JSON.parse(readFileSync(script!, 'utf8')));
    } catch (err) {
      fail(`${script}: ${(err as Error).message}`);
    }
  }
  let pg;
  try {
    pg = await startPlayground(options);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    fail(e.code === 'EADDRINUSE' ? `port ${options.port} is in use (choose another with --port)` : e.message);
  }
  if (command === 'test') {
    const ok = await runScript(pg, parsedScript!, (line) => process.stdout.write(`${line}\n`));
    await pg.stop();
    process.stdout.write(ok ? 'passed\n' : 'failed\n');
    process.exit(ok ? 0 : 1);
  }
  process.stdout.write(`Teams bot playground: ${pg.url}\n(worker: ${workerName(options)}, identity provider: ${options.idp ?? 'local'}; Ctrl+C to stop)\n`);
  const stop = (): void => {
    void pg.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) void main();
