import * as fs from 'fs';
import * as path from 'path';
import { Annotations, CfnOutput, Duration, Fn, RemovalPolicy, SecretValue, Stack, Token, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { BotCloud, BotCloudEndpoints } from './bot-cloud';
import { BOT_SECRET_FIELD, BOT_SECRET_PLACEHOLDER } from './private/bot-secret';
import { ENV } from './private/env';
import { QueueFailureDestination } from './private/queue-failure-destination';
import {
  TeamsBotValidationError,
  durationSeconds,
  normalizeBaseUrl,
  validateGuid,
  validateHost,
  validateHttpsUrl,
  validateInteger,
  validatePath,
  validateScope,
} from './private/validation';

const WARNING_PREFIX = 'cdk-teams-delegated-auth-bot';

/** Log level of the handlers' structured JSON logs. */
export enum BotLogLevel {
  /** Everything, including per-request details (never tokens, codes or message text). */
  DEBUG = 'debug',
  /** Normal operation. */
  INFO = 'info',
  /** Problems the bot recovered from. */
  WARN = 'warn',
  /** Failures only. */
  ERROR = 'error',
}

/**
 * Teams single sign-on (silent sign-in by token exchange). Needs an Application ID URI and an exposed scope on the
 * bot's Entra app registration, and `webApplicationInfo` in the Teams app manifest (see docs/sso.md).
 */
export interface TeamsSsoOptions {
  /**
   * Whether the sign-in prompt offers Teams SSO (an OAuthCard with `tokenExchangeResource`).
   *
   * @default true
   */
  readonly enabled?: boolean;

  /**
   * Application ID URI of the bot's Entra app registration (`tokenExchangeResource.uri`; an accepted audience of the
   * SSO token).
   *
   * @default - `api://botid-{appId}`
   */
  readonly applicationIdUri?: string;

  /**
   * Name of the scope the app registration exposes for Teams (*Expose an API*); the SSO token must carry it in `scp`.
   *
   * @default 'access_as_user'
   */
  readonly scope?: string;
}

/** Properties of a `TeamsDelegatedAuthBot`. */
export interface TeamsDelegatedAuthBotProps {
  /**
   * The bot's Microsoft App ID: the Application (client) ID of its Entra app registration, also the Azure Bot's
   * Microsoft App ID. Inbound Bot Framework JWTs must carry it as `aud`.
   */
  readonly appId: string;

  /**
   * The bot's home tenant (Directory (tenant) ID of the app registration). The bot's own app token is requested in
   * this tenant (single-tenant bot).
   */
  readonly tenantId: string;

  /**
   * Tenants whose users may talk to the bot. A message from any other tenant gets 403, and the KMS key policy grants
   * of the handlers are limited to these tenants' ciphertexts when the ids are literal strings.
   *
   * @default - only `tenantId`
   */
  readonly allowedTenantIds?: string[];

  /**
   * Secret holding the bot's client secret, as the JSON string `{"clientSecret": "..."}`. If the secret is encrypted
   * with a customer-managed key that is not `secret.encryptionKey`, grant the handlers `kms:Decrypt` on it yourself.
   *
   * @default - a secret encrypted with `encryptionKey`, created with a placeholder value: store the real client
   * secret after the first deploy (`aws secretsmanager put-secret-value`, see the README)
   */
  readonly botSecret?: secretsmanager.ISecret;

  /**
   * Customer-managed KMS key for the token ciphertexts, both tables, the created secret and the failure queue.
   * Its key policy must let IAM policies of this account grant its use (the default key policy does): the handlers'
   * grants are identity policies with encryption-context and `kms:ViaService` conditions.
   *
   * @default - a new key with yearly rotation
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * Your own worker function: receives the worker-contract event (docs/worker-contract.md) asynchronously. It is
   * granted exactly what `grantWorkerAccess()` gives. If it is a `lambda.Function` defined in the same stack, its
   * environment variables and an on-failure destination (`workerDeadLetterQueue`) are configured automatically;
   * otherwise set `workerEnvironment` and an on-failure destination yourself (a warning lists them).
   *
   * @default - the default worker: replies with the user's Microsoft Graph profile
   */
  readonly worker?: lambda.IFunction;

  /**
   * Delegated Microsoft Graph permissions requested at sign-in, besides `openid profile offline_access`
   * (for example `['User.Read', 'Mail.Read']`). Each must be granted to the app registration.
   *
   * @default ['User.Read']
   */
  readonly graphScopes?: string[];

  /**
   * Public base URL of the receiver when it is served on a custom domain (`https://bot.example.com`, no path). The
   * messaging endpoint and the redirect URI are built from it.
   *
   * @default - the receiver's function URL, made available to the receiver at runtime by a custom resource
   */
  readonly publicBaseUrl?: string;

  /**
   * Path of the messaging endpoint (what you paste into the Azure Bot, after the base URL).
   *
   * @default '/api/messages'
   */
  readonly messagingPath?: string;

  /**
   * Path of the OAuth redirect URI (what you register in the Entra app registration, after the base URL).
   *
   * @default '/auth/callback'
   */
  readonly callbackPath?: string;

  /**
   * Microsoft cloud whose endpoints the handlers use.
   *
   * @default BotCloud.PUBLIC
   */
  readonly cloud?: BotCloud;

  /**
   * Replacements for single endpoints of `cloud`.
   *
   * @default - every endpoint from the cloud profile
   */
  readonly endpoints?: BotCloudEndpoints;

  /**
   * Teams single sign-on by token exchange.
   *
   * @default - SSO off: users sign in through the sign-in card
   */
  readonly sso?: TeamsSsoOptions;

  /**
   * How long messages sent before sign-in are kept for resumption.
   *
   * @default Duration.hours(24)
   */
  readonly pendingMessageTtl?: Duration;

  /**
   * How long a sign-in link (its single-use state) stays valid.
   *
   * @default Duration.minutes(10)
   */
  readonly signInTimeout?: Duration;

  /**
   * Retention of every log group the construct creates.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * Log level of the handlers.
   *
   * @default BotLogLevel.INFO
   */
  readonly logLevel?: BotLogLevel;

  /**
   * Removal policy of the stateful resources: both tables, the KMS key, the created secret, the failure queue and
   * the log groups. With `DESTROY`, deleting the stack deletes every stored token.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * AWS X-Ray tracing of the receiver and the default worker. With tracing on, their roles get
   * `xray:PutTraceSegments` and `xray:PutTelemetryRecords` on `*` (X-Ray has no resource-level permissions).
   *
   * @default lambda.Tracing.DISABLED
   */
  readonly tracing?: lambda.Tracing;

  /**
   * Memory of the receiver function, in MiB.
   *
   * @default 512
   */
  readonly receiverMemorySize?: number;

  /**
   * Timeout of the receiver function. Teams resends a message that is not acknowledged within about 15 seconds;
   * the OAuth callback may take longer when many messages wait.
   *
   * @default Duration.seconds(30)
   */
  readonly receiverTimeout?: Duration;

  /**
   * Memory of the default worker function, in MiB (ignored with `worker`).
   *
   * @default 512
   */
  readonly workerMemorySize?: number;

  /**
   * Timeout of the default worker function (ignored with `worker`).
   *
   * @default Duration.minutes(1)
   */
  readonly workerTimeout?: Duration;

  /**
   * Maximum age of an asynchronous worker event before Lambda stops retrying it and sends it to the failure queue.
   *
   * @default Duration.hours(1)
   */
  readonly workerMaxEventAge?: Duration;

  /**
   * Retries of a failed asynchronous worker invocation (0–2). The worker's idempotency records keep retries from
   * replying twice.
   *
   * @default 2
   */
  readonly workerRetryAttempts?: number;
}

/**
 * A Microsoft Teams bot that acts as each user with delegated Microsoft Graph tokens.
 *
 * Creates the receiver (a public function URL serving the Bot Framework messaging endpoint and the OAuth callback),
 * the worker, a token table and a conversation table encrypted with a customer-managed KMS key, the bot's client
 * secret, a failure queue, and a custom resource that gives the receiver its own public URL without a circular
 * dependency.
 */
export class TeamsDelegatedAuthBot extends Construct {
  /** The receiver function (messaging endpoint and OAuth callback). */
  public readonly receiver: lambda.Function;

  /** The receiver's public function URL (auth type NONE: every request is authenticated by the handler). */
  public readonly receiverUrl: lambda.FunctionUrl;

  /** The worker function: the default worker or `props.worker`. */
  public readonly worker: lambda.IFunction;

  /** Encrypted delegated tokens, partition key `pk` = `{tenantId}#{aadObjectId}`. */
  public readonly tokenTable: dynamodb.Table;

  /** Pending messages, sign-in states, dedupe and idempotency records (partition key `pk`, sort key `sk`). */
  public readonly conversationTable: dynamodb.Table;

  /** The customer-managed key of the token ciphertexts and of every encrypted resource. */
  public readonly encryptionKey: kms.IKey;

  /** The secret holding `{"clientSecret": "..."}`. */
  public readonly botSecret: secretsmanager.ISecret;

  /**
   * Queue receiving worker events that failed after all retries (Lambda on-failure destination records, which hold
   * the original event for replay). Undefined when `props.worker` is not a `lambda.Function` of the same stack.
   */
  public readonly workerDeadLetterQueue?: sqs.IQueue;

  /** Log group of the receiver. */
  public readonly receiverLogGroup: logs.ILogGroup;

  /** Log group of the default worker (undefined with `props.worker`). */
  public readonly workerLogGroup?: logs.ILogGroup;

  /** Public base URL of the receiver, without a trailing slash (a token unless `publicBaseUrl` is set). */
  public readonly baseUrl: string;

  /** Messaging endpoint to paste into the Azure Bot configuration. */
  public readonly messagingEndpoint: string;

  /** Redirect URI to register (Web platform) in the Entra app registration. */
  public readonly redirectUri: string;

  /** Name of the SSM parameter holding the base URL (undefined when `publicBaseUrl` is set). */
  public readonly baseUrlParameterName?: string;

  /** Environment variables a worker needs (set automatically on the default worker and on a `lambda.Function` worker). */
  public readonly workerEnvironment: { [name: string]: string };

  /** The bot's Microsoft App ID. */
  public readonly appId: string;

  private readonly cloud: BotCloud;
  private readonly allowedTenantIdsForConditions?: string[];
  private readonly createdSecret: boolean;

  constructor(scope: Construct, id: string, props: TeamsDelegatedAuthBotProps) {
    super(scope, id);
    const stack = Stack.of(this);

    // ----- validation (eager, before any resource) -----------------------------------------------------------------
    validateGuid(this, 'appId', props.appId, 'the Microsoft App ID (Application (client) ID)');
    validateGuid(this, 'tenantId', props.tenantId, 'the Directory (tenant) ID');
    const allowedTenantIds = props.allowedTenantIds ?? [props.tenantId];
    if (!Token.isUnresolved(allowedTenantIds)) {
      if (allowedTenantIds.length === 0) {
        throw new TeamsBotValidationError(this, 'allowedTenantIds', allowedTenantIds,
          'list at least one tenant id (omit the prop to allow only tenantId)');
      }
      allowedTenantIds.forEach((t, i) => validateGuid(this, `allowedTenantIds[${i}]`, t, 'a tenant id'));
    }
    const graphScopes = props.graphScopes ?? ['User.Read'];
    if (!Token.isUnresolved(graphScopes)) {
      if (graphScopes.length === 0) {
        throw new TeamsBotValidationError(this, 'graphScopes', graphScopes, "list at least one delegated permission, e.g. ['User.Read']");
      }
      graphScopes.forEach((s, i) => validateScope(this, `graphScopes[${i}]`, s));
    }
    const messagingPath = props.messagingPath ?? '/api/messages';
    const callbackPath = props.callbackPath ?? '/auth/callback';
    validatePath(this, 'messagingPath', messagingPath);
    validatePath(this, 'callbackPath', callbackPath);
    if (messagingPath === callbackPath) {
      throw new TeamsBotValidationError(this, 'callbackPath', callbackPath, 'must differ from messagingPath');
    }
    const publicBaseUrl = props.publicBaseUrl !== undefined ? normalizeBaseUrl(this, 'publicBaseUrl', props.publicBaseUrl) : undefined;
    const endpoints = props.endpoints ?? {};
    for (const key of ['botOpenIdMetadataUrl', 'botTokenIssuer', 'entraAuthority', 'botConnectorScope', 'graphBaseUrl'] as const) {
      const value = endpoints[key];
      if (value !== undefined) validateHttpsUrl(this, `endpoints.${key}`, value);
    }
    if (endpoints.serviceUrlHosts !== undefined && !Token.isUnresolved(endpoints.serviceUrlHosts)) {
      if (endpoints.serviceUrlHosts.length === 0) {
        throw new TeamsBotValidationError(this, 'endpoints.serviceUrlHosts', [], 'list at least one host, or omit it to use the cloud profile');
      }
      endpoints.serviceUrlHosts.forEach((h, i) => validateHost(this, `endpoints.serviceUrlHosts[${i}]`, h));
    }
    const pendingTtl = durationSeconds(this, 'pendingMessageTtl', props.pendingMessageTtl ?? Duration.hours(24), Duration.minutes(1), Duration.days(14));
    const signInTtl = durationSeconds(this, 'signInTimeout', props.signInTimeout ?? Duration.minutes(10), Duration.minutes(1), Duration.hours(1));
    const receiverMemorySize = props.receiverMemorySize ?? 512;
    const workerMemorySize = props.workerMemorySize ?? 512;
    validateInteger(this, 'receiverMemorySize', receiverMemorySize, 128, 10240);
    validateInteger(this, 'workerMemorySize', workerMemorySize, 128, 10240);
    const receiverTimeout = props.receiverTimeout ?? Duration.seconds(30);
    const workerTimeout = props.workerTimeout ?? Duration.minutes(1);
    durationSeconds(this, 'receiverTimeout', receiverTimeout, Duration.seconds(3), Duration.minutes(15));
    durationSeconds(this, 'workerTimeout', workerTimeout, Duration.seconds(3), Duration.minutes(15));
    const workerMaxEventAge = props.workerMaxEventAge ?? Duration.hours(1);
    durationSeconds(this, 'workerMaxEventAge', workerMaxEventAge, Duration.minutes(1), Duration.hours(6));
    const workerRetryAttempts = props.workerRetryAttempts ?? 2;
    validateInteger(this, 'workerRetryAttempts', workerRetryAttempts, 0, 2);
    const sso = props.sso;
    const ssoEnabled = sso !== undefined && (sso.enabled ?? true);
    const ssoResource = sso?.applicationIdUri ?? `api://botid-${props.appId}`;
    const ssoScope = sso?.scope ?? 'access_as_user';
    if (!Token.isUnresolved(ssoScope)) validateScope(this, 'sso.scope', ssoScope);
    if (sso?.applicationIdUri !== undefined && !Token.isUnresolved(sso.applicationIdUri) && !/^(api|https):\/\/\S+$/.test(sso.applicationIdUri)) {
      throw new TeamsBotValidationError(this, 'sso.applicationIdUri', sso.applicationIdUri,
        'expected the Application ID URI of the app registration, e.g. "api://botid-<appId>"');
    }

    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    const logLevel = props.logLevel ?? BotLogLevel.INFO;
    const tracing = props.tracing ?? lambda.Tracing.DISABLED;
    const acknowledgeTracing = (role: iam.IRole) => {
      if (tracing === lambda.Tracing.DISABLED) return;
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'Added by Lambda tracing (props.tracing): xray:PutTraceSegments and xray:PutTelemetryRecords support no ' +
          'resource-level permissions, so AWS requires Resource "*". Every other statement of this role names its resources.',
      });
    };
    this.cloud = props.cloud ?? BotCloud.PUBLIC;
    this.appId = props.appId;
    if (!Token.isUnresolved(allowedTenantIds) && allowedTenantIds.every((t) => !Token.isUnresolved(t))) {
      this.allowedTenantIdsForConditions = [...allowedTenantIds];
    }

    // ----- key, tables, secret ------------------------------------------------------------------------------------
    this.encryptionKey = props.encryptionKey ?? new kms.Key(this, 'Key', {
      description: `Delegated user tokens and data of the Teams bot ${this.node.path}`,
      enableKeyRotation: true,
      removalPolicy,
    });

    this.tokenTable = new dynamodb.Table(this, 'TokenTable', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.encryptionKey,
      timeToLiveAttribute: 'ttl',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy,
    });

    this.conversationTable = new dynamodb.Table(this, 'ConversationTable', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.encryptionKey,
      timeToLiveAttribute: 'ttl',
      // Records live minutes to a day; recovery still costs little and keeps a restore possible.
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy,
    });

    this.createdSecret = props.botSecret === undefined;
    this.botSecret = props.botSecret ?? new secretsmanager.Secret(this, 'BotSecret', {
      description: `Client secret of the Teams bot ${this.node.path}: {"${BOT_SECRET_FIELD}": "..."}`,
      encryptionKey: this.encryptionKey,
      // A placeholder, not a secret: the handlers refuse it and tell the operator to store the real client secret.
      secretObjectValue: { [BOT_SECRET_FIELD]: SecretValue.unsafePlainText(BOT_SECRET_PLACEHOLDER) },
      removalPolicy,
    });
    if (this.createdSecret) {
      Validations.of(this.botSecret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason: 'The secret holds the client secret of the bot\'s Entra ID app registration. Entra ID issues and expires it; ' +
          'no AWS rotation function can create a new one. Rotate it in Entra ID and store it with put-secret-value.',
      });
    }

    // ----- environment ------------------------------------------------------------------------------------------
    const common: { [name: string]: string } = {
      [ENV.APP_ID]: props.appId,
      [ENV.TENANT_ID]: props.tenantId,
      [ENV.ALLOWED_TENANT_IDS]: Token.isUnresolved(allowedTenantIds) ? Fn.join(',', allowedTenantIds) : allowedTenantIds.join(','),
      [ENV.CLOUD]: this.cloud.profileName,
      [ENV.SECRET_ARN]: this.botSecret.secretArn,
      [ENV.KMS_KEY_ARN]: this.encryptionKey.keyArn,
      [ENV.CONVERSATION_TABLE]: this.conversationTable.tableName,
      [ENV.GRAPH_SCOPES]: Token.isUnresolved(graphScopes) ? Fn.join(' ', graphScopes) : graphScopes.join(' '),
      [ENV.LOG_LEVEL]: logLevel,
    };
    if (endpoints.botOpenIdMetadataUrl !== undefined) common[ENV.BOT_OPENID_METADATA_URL] = endpoints.botOpenIdMetadataUrl;
    if (endpoints.botTokenIssuer !== undefined) common[ENV.BOT_TOKEN_ISSUER] = endpoints.botTokenIssuer;
    if (endpoints.entraAuthority !== undefined) common[ENV.ENTRA_AUTHORITY] = endpoints.entraAuthority;
    if (endpoints.botConnectorScope !== undefined) common[ENV.BOT_CONNECTOR_SCOPE] = endpoints.botConnectorScope;
    if (endpoints.graphBaseUrl !== undefined) common[ENV.GRAPH_BASE_URL] = endpoints.graphBaseUrl;
    if (endpoints.serviceUrlHosts !== undefined) {
      common[ENV.SERVICE_URL_HOSTS] = Token.isUnresolved(endpoints.serviceUrlHosts)
        ? Fn.join(',', endpoints.serviceUrlHosts) : endpoints.serviceUrlHosts.join(',');
    }
    this.workerEnvironment = { ...common };

    // ----- worker ---------------------------------------------------------------------------------------------
    const workerFailureQueue = (): sqs.Queue => {
      const queue = new sqs.Queue(this, 'WorkerFailureQueue', {
        encryption: sqs.QueueEncryption.KMS,
        encryptionMasterKey: this.encryptionKey,
        enforceSSL: true,
        retentionPeriod: Duration.days(14),
        removalPolicy,
      });
      Validations.of(queue).acknowledge({
        id: 'AwsSolutions-SQS3',
        reason: 'This queue is the dead-letter queue of the worker: its Lambda on-failure destination for asynchronous ' +
          'invocations. cdk-nag only recognizes queues named in another queue\'s redrive policy.',
      });
      return queue;
    };
    const asyncConfig = (queue: sqs.IQueue): lambda.EventInvokeConfigOptions => ({
      retryAttempts: workerRetryAttempts,
      maxEventAge: workerMaxEventAge,
      onFailure: new QueueFailureDestination(queue, this.encryptionKey),
    });

    if (props.worker === undefined) {
      const workerLogGroup = new logs.LogGroup(this, 'WorkerLogs', { retention: logRetention, removalPolicy });
      const workerRole = new iam.Role(this, 'WorkerRole', {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `Default worker of the Teams bot ${this.node.path}`,
      });
      workerLogGroup.grantWrite(workerRole);
      const worker = new lambda.Function(this, 'Worker', {
        description: 'Teams bot worker: acts on a message with the user\'s delegated Microsoft Graph token',
        runtime: lambda.Runtime.NODEJS_24_X,
        architecture: lambda.Architecture.ARM_64,
        handler: 'index.handler',
        code: handlerCode(this, 'worker'),
        role: workerRole,
        logGroup: workerLogGroup,
        memorySize: workerMemorySize,
        timeout: workerTimeout,
        environment: this.workerEnvironment,
        tracing,
      });
      acknowledgeTracing(workerRole);
      const queue = workerFailureQueue();
      worker.configureAsyncInvoke(asyncConfig(queue));
      this.worker = worker;
      this.workerLogGroup = workerLogGroup;
      this.workerDeadLetterQueue = queue;
    } else {
      this.worker = props.worker;
      const names = Object.keys(this.workerEnvironment).join(', ');
      // Only a function of this stack can take the environment: from another stack, its environment would reference
      // this stack while the receiver references the function (a cross-stack cycle).
      if (props.worker instanceof lambda.Function && Stack.of(props.worker) === stack) {
        for (const [name, value] of Object.entries(this.workerEnvironment)) {
          props.worker.addEnvironment(name, value);
        }
        if (props.worker.node.tryFindChild('EventInvokeConfig') === undefined) {
          const queue = workerFailureQueue();
          props.worker.configureAsyncInvoke(asyncConfig(queue));
          this.workerDeadLetterQueue = queue;
        } else {
          Annotations.of(this).addWarningV2(`${WARNING_PREFIX}:workerAsyncConfigKept`,
            `The worker ${props.worker.node.path} already has an asynchronous invocation configuration; it is kept as is. ` +
            'Make sure it has an on-failure destination, or failed messages disappear silently.');
        }
      } else {
        Annotations.of(this).addWarningV2(`${WARNING_PREFIX}:workerNotConfigurable`,
          `The worker ${props.worker.node.path} is not a lambda.Function of this stack, so the construct cannot configure it. ` +
          `Set its environment variables from the workerEnvironment property (${names}) and give it an on-failure destination ` +
          '(EventInvokeConfig) so failed messages are not lost. Its execution role gets grantWorkerAccess() when it has one.');
      }
    }
    if (Stack.of(this.worker) === stack) {
      this.grantWorkerAccess(this.worker);
    } else {
      Annotations.of(this).addWarningV2(`${WARNING_PREFIX}:workerInOtherStack`,
        `The worker ${this.worker.node.path} belongs to another stack: granting it access or configuring it from here would ` +
        'make the two stacks reference each other. Define the worker in the same stack as the bot, or import it by ARN ' +
        '(lambda.Function.fromFunctionAttributes with its role) in this stack.');
    }

    // ----- receiver -----------------------------------------------------------------------------------------
    const receiverLogGroup = new logs.LogGroup(this, 'ReceiverLogs', { retention: logRetention, removalPolicy });
    this.receiverLogGroup = receiverLogGroup;
    const receiverRole = new iam.Role(this, 'ReceiverRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Receiver of the Teams bot ${this.node.path}`,
    });
    receiverLogGroup.grantWrite(receiverRole);

    const receiverEnvironment: { [name: string]: string } = {
      ...common,
      [ENV.TOKEN_TABLE]: this.tokenTable.tableName,
      [ENV.WORKER_FUNCTION]: this.worker.functionArn,
      [ENV.MESSAGING_PATH]: messagingPath,
      [ENV.CALLBACK_PATH]: callbackPath,
      [ENV.PENDING_TTL_SECONDS]: String(pendingTtl),
      [ENV.SIGNIN_TTL_SECONDS]: String(signInTtl),
      [ENV.SSO_ENABLED]: ssoEnabled ? 'true' : 'false',
      [ENV.SSO_RESOURCE]: ssoResource,
      [ENV.SSO_SCOPE]: ssoScope,
    };

    // The base URL parameter has a fixed name, so the receiver's environment and IAM policy never reference the
    // function URL (which references the receiver): no circular dependency.
    const baseUrlParameterName = publicBaseUrl === undefined ? parameterNameFor(this) : undefined;
    const baseUrlParameterArn = baseUrlParameterName === undefined ? undefined : stack.formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: baseUrlParameterName.slice(1),
    });
    if (publicBaseUrl !== undefined) {
      receiverEnvironment[ENV.PUBLIC_BASE_URL] = publicBaseUrl;
    } else {
      receiverEnvironment[ENV.BASE_URL_PARAMETER] = baseUrlParameterName!;
    }

    this.receiver = new lambda.Function(this, 'Receiver', {
      description: 'Teams bot receiver: Bot Framework messaging endpoint and OAuth callback',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      handler: 'index.handler',
      code: handlerCode(this, 'receiver'),
      role: receiverRole,
      logGroup: receiverLogGroup,
      memorySize: receiverMemorySize,
      timeout: receiverTimeout,
      environment: receiverEnvironment,
      tracing,
    });
    acknowledgeTracing(receiverRole);
    // Every request is authenticated by the handler: Bot Framework JWT on the messaging endpoint, single-use
    // state + PKCE on the callback. Teams and browsers cannot sign requests with SigV4.
    this.receiverUrl = this.receiver.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
    this.grantReceiverAccess(receiverRole, baseUrlParameterArn);

    // ----- base URL, endpoints, outputs -------------------------------------------------------------------------
    if (publicBaseUrl !== undefined) {
      this.baseUrl = publicBaseUrl;
    } else {
      // A function URL is `https://<id>.lambda-url.<region>.on.aws/`: keep the host, drop the trailing slash.
      this.baseUrl = Fn.join('', ['https://', Fn.select(2, Fn.split('/', this.receiverUrl.url))]);
      this.baseUrlParameterName = baseUrlParameterName;
      this.createBaseUrlResource(baseUrlParameterName!, baseUrlParameterArn!, logRetention, removalPolicy);
    }
    this.messagingEndpoint = joinUrl(this.baseUrl, messagingPath);
    this.redirectUri = joinUrl(this.baseUrl, callbackPath);

    new CfnOutput(this, 'MessagingEndpoint', {
      description: 'Azure Bot > Configuration > Messaging endpoint',
      value: this.messagingEndpoint,
    });
    new CfnOutput(this, 'RedirectUri', {
      description: 'Entra app registration > Authentication > Web > Redirect URI',
      value: this.redirectUri,
    });
    new CfnOutput(this, 'AppId', {
      description: 'Microsoft App ID of the bot (Teams app package: npx teams-bot-app-package --stack-outputs <file>)',
      value: props.appId,
    });
    new CfnOutput(this, 'BotSecretArn', {
      description: 'Store the client secret here: {"clientSecret": "..."}',
      value: this.botSecret.secretArn,
    });
  }

  /**
   * Gives a worker exactly what it needs: `kms:Decrypt` of access-token ciphertexts only (encryption context
   * `purpose` = `access_token` and this bot's `appId`), read access to the bot's secret, and Get/Put/Update/Delete
   * of its idempotency records in the conversation table (partition keys starting with `worker#`).
   *
   * Called automatically for the default worker and for `props.worker`.
   */
  public grantWorkerAccess(grantee: iam.IGrantable): iam.Grant {
    const decrypt = iam.Grant.addToPrincipal({
      grantee,
      actions: ['kms:Decrypt'],
      resourceArns: [this.encryptionKey.keyArn],
      conditions: { StringEquals: this.tokenContextConditions(['access_token']) },
    });
    const records = iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      resourceArns: [this.conversationTable.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['worker#*'] } },
    });
    return decrypt
      .combine(records)
      .combine(this.grantTableKeyUse(grantee))
      .combine(this.grantSecretRead(grantee));
  }

  private grantReceiverAccess(grantee: iam.IGrantable, baseUrlParameterArn: string | undefined): void {
    // Encrypt only ciphertexts bound to one user of this bot: context keys exactly appId, tenantId, aadObjectId,
    // purpose; appId this bot; tenantId an allowed tenant (when literal).
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['kms:Encrypt'],
      resourceArns: [this.encryptionKey.keyArn],
      conditions: {
        'StringEquals': this.tokenContextConditions(['access_token', 'refresh_token']),
        'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['appId', 'tenantId', 'aadObjectId', 'purpose'] },
        'Null': { 'kms:EncryptionContext:tenantId': 'false', 'kms:EncryptionContext:aadObjectId': 'false' },
      },
    });
    // Decrypt refresh tokens only: the receiver never needs an access token in clear.
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['kms:Decrypt'],
      resourceArns: [this.encryptionKey.keyArn],
      conditions: { StringEquals: this.tokenContextConditions(['refresh_token']) },
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem'],
      resourceArns: [this.tokenTable.tableArn],
    });
    iam.Grant.addToPrincipal({
      grantee,
      actions: [
        'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem',
        'dynamodb:ConditionCheckItem', 'dynamodb:Query',
      ],
      resourceArns: [this.conversationTable.tableArn],
    });
    this.grantTableKeyUse(grantee);
    this.grantSecretRead(grantee);
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['lambda:InvokeFunction'],
      resourceArns: [this.worker.functionArn],
    });
    if (baseUrlParameterArn !== undefined) {
      iam.Grant.addToPrincipal({ grantee, actions: ['ssm:GetParameter'], resourceArns: [baseUrlParameterArn] });
    }
  }

  /** StringEquals conditions on the token encryption context. */
  private tokenContextConditions(purposes: string[]): { [key: string]: unknown } {
    const conditions: { [key: string]: unknown } = {
      'kms:EncryptionContext:appId': this.appId,
      'kms:EncryptionContext:purpose': purposes.length === 1 ? purposes[0] : purposes,
    };
    if (this.allowedTenantIdsForConditions !== undefined) {
      const t = this.allowedTenantIdsForConditions;
      conditions['kms:EncryptionContext:tenantId'] = t.length === 1 ? t[0] : t;
    }
    return conditions;
  }

  /** Use of the key by DynamoDB on the grantee's behalf (table encryption), and nothing else. */
  private grantTableKeyUse(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
      resourceArns: [this.encryptionKey.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Stack.of(this).region}.amazonaws.com` } },
    });
  }

  private grantSecretRead(grantee: iam.IGrantable): iam.Grant {
    if (!this.createdSecret) {
      return this.botSecret.grantRead(grantee);
    }
    const read = iam.Grant.addToPrincipal({
      grantee,
      actions: ['secretsmanager:GetSecretValue'],
      resourceArns: [this.botSecret.secretArn],
    });
    const decrypt = iam.Grant.addToPrincipal({
      grantee,
      actions: ['kms:Decrypt'],
      resourceArns: [this.encryptionKey.keyArn],
      conditions: {
        StringEquals: {
          'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com`,
          'kms:EncryptionContext:SecretARN': this.botSecret.secretArn,
        },
      },
    });
    return read.combine(decrypt);
  }

  /**
   * Puts the base URL (from the function URL) into the fixed-name SSM parameter after the URL exists; deletes the
   * parameter with the stack. Updates overwrite it, so there is no drift.
   */
  private createBaseUrlResource(name: string, arn: string, retention: logs.RetentionDays, removalPolicy: RemovalPolicy): void {
    const stack = Stack.of(this);
    // AwsCustomResource shares one provider function per stack; only its first creator chooses its role and logs.
    const providerExists = stack.node.tryFindChild('AWS' + cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, '')) !== undefined;
    let role: iam.Role | undefined;
    let logGroup: logs.LogGroup | undefined;
    if (!providerExists) {
      logGroup = new logs.LogGroup(this, 'BaseUrlProviderLogs', { retention, removalPolicy });
      role = new iam.Role(this, 'BaseUrlProviderRole', {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: 'Provider of AwsCustomResource: writes the Teams bot base URL parameter',
      });
      logGroup.grantWrite(role);
    }
    const put: cr.AwsSdkCall = {
      service: 'SSM',
      action: 'putParameter',
      parameters: {
        Name: name,
        Value: this.baseUrl,
        Type: 'String',
        Overwrite: true,
        Description: `Public base URL of the Teams bot ${this.node.path} (written by CloudFormation)`,
      },
      physicalResourceId: cr.PhysicalResourceId.of(name),
    };
    new cr.AwsCustomResource(this, 'BaseUrl', {
      resourceType: 'Custom::TeamsBotBaseUrl',
      installLatestAwsSdk: false,
      onCreate: put,
      onUpdate: put,
      onDelete: {
        service: 'SSM',
        action: 'deleteParameter',
        parameters: { Name: name },
        ignoreErrorCodesMatching: 'ParameterNotFound',
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({ actions: ['ssm:PutParameter', 'ssm:DeleteParameter'], resources: [arn] }),
      ]),
      role,
      logGroup,
    });
    const provider = stack.node.tryFindChild('AWS' + cr.AwsCustomResource.PROVIDER_FUNCTION_UUID.replace(/-/g, ''));
    if (provider !== undefined) {
      Validations.of(provider).acknowledge({
        id: 'AwsSolutions-L1',
        reason: 'The runtime of the AwsCustomResource provider function is chosen by aws-cdk-lib (custom-resources). It runs ' +
          'only during deployments, to write and delete the bot\'s base-URL SSM parameter.',
      });
    }
  }
}

/** The prebundled handler (built by projen at pre-compile, shipped in the npm package under assets/). */
function handlerCode(scope: Construct, name: string): lambda.Code {
  const dir = path.join(__dirname, '..', 'assets', 'lambda', name, 'index');
  if (!fs.existsSync(path.join(dir, 'index.js'))) {
    throw new Error(`${scope.node.path}: the ${name} handler bundle is missing at ${dir}/index.js. ` +
      'In a clone of the repository, run `npx projen bundle` (or `npx projen build`); an installed package ships it.');
  }
  return lambda.Code.fromAsset(dir, { exclude: ['*.meta.json'] });
}

/** `/tdab/<stack name>/<construct path below the stack, '/' as '.'>/base-url`, SSM-safe characters only. */
function parameterNameFor(scope: Construct): string {
  const stack = Stack.of(scope);
  const stackPath = stack.node.path;
  const relative = scope.node.path.startsWith(stackPath + '/') ? scope.node.path.slice(stackPath.length + 1) : scope.node.id;
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '-');
  return `/tdab/${Token.isUnresolved(stack.stackName) ? stack.stackName : safe(stack.stackName)}/${safe(relative.replace(/\//g, '.'))}/base-url`;
}

/** Base URL (no trailing slash) + path (leading slash): exactly one `/` between them. */
function joinUrl(base: string, routePath: string): string {
  return Token.isUnresolved(base) ? Fn.join('', [base, routePath]) : `${base}${routePath}`;
}
