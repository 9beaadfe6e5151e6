import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KMSClient } from '@aws-sdk/client-kms';
// Handler dependencies are devDependencies: esbuild inlines them into the bundle.
/* eslint-disable import/no-extraneous-dependencies */
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
/* eslint-enable import/no-extraneous-dependencies */
import type { ResumeContinuationEvent, ResumeScheduler } from './resume';
import { SignInStates } from './sign-in-state';
import { isHttpsOrLoopback } from '../../src/private/shared-data';
import { BotAppTokenProvider, BotConnectorClient } from '../shared/bot-connector';
import { botSecretReader } from '../shared/bot-secret';
import { createBotFrameworkAuthenticator } from '../shared/botframework-auth';
import { ConfigurationError, type ResolvedConfig } from '../shared/config';
import type { WorkerEvent } from '../shared/contract';
import { ConversationStore } from '../shared/conversation-store';
import { TokenCipher } from '../shared/crypto';
import { createEntraOAuthClient, type EntraOAuthClient } from '../shared/entra-oauth';
import { TokenStore } from '../shared/token-store';

/** Re-exported: the receiver's flows and tests catch it from here. */
export { ConfigurationError };

/** The AWS SDK clients of the receiver, created once per container by the handler (index.ts). */
export interface AwsClients {
  readonly ddb: DynamoDBClient;
  readonly kms: KMSClient;
  readonly lambda: LambdaClient;
  readonly secrets: SecretsManagerClient;
  readonly ssm: SSMClient;
}

/** Hands a contract event to the worker asynchronously (Lambda Invoke, InvocationType Event). */
export interface WorkerInvoker {
  /** Resolves once Lambda accepted the event (HTTP 202); rejects otherwise. One AWS call. */
  invoke(event: WorkerEvent): Promise<void>;
}

/** Inbound authentication (Bot Framework JWT, rules 1–9). */
export interface InboundAuthenticator {
  authenticate(
    authorization: string | undefined,
    activity: { serviceUrl?: unknown; channelId?: unknown },
  ): Promise<{ claims: Record<string, unknown> }>;
}

/**
 * Everything a receiver flow needs, built once per container. The flows (messages.ts, callback.ts, invoke.ts) take
 * it as a parameter, so tests can build one against local servers.
 */
export interface ReceiverContext {
  readonly config: ResolvedConfig;
  readonly authenticator: InboundAuthenticator;
  readonly tokens: TokenStore;
  readonly conversations: ConversationStore;
  readonly oauth: EntraOAuthClient;
  readonly connector: BotConnectorClient;
  readonly worker: WorkerInvoker;
  /**
   * Invokes this receiver itself with a resume continuation (./resume.ts); undefined outside Lambda (no
   * `AWS_LAMBDA_FUNCTION_NAME`): what a request's resume budget leaves then waits for the user's next message.
   */
  readonly resumeScheduler?: ResumeScheduler;
  /** Issues and verifies the self-authenticating sign-in states and SSO exchange ids (keys derived from the bot's secret). */
  readonly signInStates: SignInStates;
  /** The receiver's public base URL, no trailing slash (PUBLIC_BASE_URL, else the SSM parameter, read once). */
  baseUrl(): Promise<string>;
  /** The OAuth redirect URI: baseUrl + callbackPath, exactly (no `//`). */
  redirectUri(): Promise<string>;
  /** The bot's client secret (shared/bot-secret.ts: cached 1 h, failures not cached). Rejects with {@link ConfigurationError} on a placeholder. */
  clientSecret(): Promise<string>;
  /** Current time, epoch milliseconds. */
  now(): number;
}

/** Invokes `functionName` asynchronously (InvocationType Event) with `payload` as JSON; throws unless Lambda answered 202. */
async function invokeEvent(lambda: LambdaClient, functionName: string, payload: unknown): Promise<void> {
  const out = await lambda.send(new InvokeCommand({
    FunctionName: functionName,
    InvocationType: 'Event',
    Payload: new TextEncoder().encode(JSON.stringify(payload)),
  }));
  if (out.StatusCode !== 202) throw new Error(`invoke answered ${out.StatusCode}`);
}

/** The worker invoker over a LambdaClient. */
export class LambdaWorkerInvoker implements WorkerInvoker {
  constructor(private readonly lambda: LambdaClient, private readonly functionName: string) {}

  /** Invokes the worker with InvocationType Event; throws unless Lambda answered 202. */
  async invoke(event: WorkerEvent): Promise<void> {
    await invokeEvent(this.lambda, this.functionName, event);
  }
}

/** The resume continuation over a LambdaClient: the receiver invokes itself (its own function name, from Lambda). */
export class LambdaResumeScheduler implements ResumeScheduler {
  constructor(private readonly lambda: LambdaClient, private readonly functionName: string) {}

  /** Invokes the receiver with InvocationType Event; throws unless Lambda answered 202. */
  async schedule(event: ResumeContinuationEvent): Promise<void> {
    await invokeEvent(this.lambda, this.functionName, event);
  }
}

/** Normalizes a base URL: https (or http on a loopback host, for tests), no trailing slash, no query. */
export function normalizeBaseUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new ConfigurationError('the receiver base URL is not a URL');
  }
  if (!isHttpsOrLoopback(url)) throw new ConfigurationError('the receiver base URL must be https');
  if (url.search || url.hash || url.username || url.password) throw new ConfigurationError('the receiver base URL must not have a query, fragment or credentials');
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}

/** Joins a base URL and a path with exactly one `/` between them. */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/**
 * Returns a reader of the base URL: `publicBaseUrl` if configured, else the SSM parameter (read once; failures are not
 * cached).
 */
export function baseUrlReader(ssm: SSMClient, config: Pick<ResolvedConfig, 'publicBaseUrl' | 'baseUrlParameter'>): () => Promise<string> {
  let cached: string | undefined;
  let inflight: Promise<string> | undefined;
  return async () => {
    if (cached) return cached;
    if (config.publicBaseUrl) {
      cached = normalizeBaseUrl(config.publicBaseUrl);
      return cached;
    }
    if (!config.baseUrlParameter) throw new ConfigurationError('neither the public base URL nor its SSM parameter is configured');
    if (!inflight) {
      inflight = ssm.send(new GetParameterCommand({ Name: config.baseUrlParameter })).then((out) => {
        const value = out.Parameter?.Value;
        if (!value) throw new ConfigurationError('the base URL parameter is empty');
        cached = normalizeBaseUrl(value);
        return cached;
      }).finally(() => {
        inflight = undefined;
      });
    }
    return inflight;
  };
}

/** Builds the receiver context from the configuration and the container's AWS clients. No I/O. */
export function createReceiverContext(config: ResolvedConfig, clients: AwsClients,
  opts: { now?: () => number; selfFunction?: string } = {}): ReceiverContext {
  const now = opts.now ?? Date.now;
  const required = (value: string | undefined, what: string): string => {
    if (!value) throw new ConfigurationError(`${what} is not configured`);
    return value;
  };
  const clientSecret = botSecretReader(clients.secrets, config.secretArn, { now });
  const baseUrl = baseUrlReader(clients.ssm, config);
  const cipher = new TokenCipher({ kms: clients.kms, keyId: required(config.kmsKeyArn, 'the KMS key ARN') });
  const tokens = new TokenStore({
    ddb: clients.ddb,
    cipher,
    tableName: required(config.tokenTable, 'the token table'),
    appId: config.appId,
  });
  const conversations = new ConversationStore({
    ddb: clients.ddb,
    tableName: required(config.conversationTable, 'the conversation table'),
    pendingTtlSeconds: config.pendingTtlSeconds,
    signinTtlSeconds: config.signinTtlSeconds,
    maxPendingMessages: config.maxPendingMessages,
  });
  const oauth = createEntraOAuthClient(config, clientSecret);
  const botTokens = new BotAppTokenProvider({
    appId: config.appId,
    tenantId: config.tenantId,
    authority: config.entraAuthority,
    scope: config.botConnectorScope,
    getClientSecret: clientSecret,
  });
  const connector = new BotConnectorClient({ tokens: botTokens, serviceUrlHosts: config.serviceUrlHosts });
  const authenticator = createBotFrameworkAuthenticator(config);
  const worker = new LambdaWorkerInvoker(clients.lambda, required(config.workerFunction, 'the worker function'));
  // Lambda sets AWS_LAMBDA_FUNCTION_NAME in every function's environment: the receiver's own name, which the
  // construct cannot write into the receiver's environment without a reference from the function to itself.
  const selfFunction = opts.selfFunction ?? process.env.AWS_LAMBDA_FUNCTION_NAME;
  return {
    config,
    authenticator,
    tokens,
    conversations,
    oauth,
    connector,
    worker,
    ...(selfFunction ? { resumeScheduler: new LambdaResumeScheduler(clients.lambda, selfFunction) } : {}),
    signInStates: new SignInStates(clientSecret, config.appId),
    baseUrl,
    redirectUri: async () => joinUrl(await baseUrl(), config.callbackPath),
    clientSecret,
    now,
  };
}
