import { Annotations, CfnOutput, Duration, Fn, RemovalPolicy, SecretValue, Stack, Token, Tokenization, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { AssistantOptions } from './assistant';
import { BotCloud, BotCloudEndpoints } from './bot-cloud';
import { BotLogLevel } from './log-level';
import { BotAlarmOptions } from './monitoring';
import { ASSISTANT_MEMORY_PURPOSE } from './private/assistant';
import { grantAssistantBedrock } from './private/assistant-worker';
import { BaseUrlParameter, baseUrlOfFunctionUrl, baseUrlParameterOf, createBaseUrlResource, joinUrl } from './private/base-url';
import { createBotFunction } from './private/bot-function';
import { BOT_SECRET_FIELD, BOT_SECRET_PLACEHOLDER } from './private/bot-secret';
import { acknowledgeCompliance } from './private/compliance';
import { ENDPOINT_ENV, ENV } from './private/env';
import { BotLogGroups } from './private/log-groups';
import { METRIC } from './private/metric-names';
import { createAlarms, createDashboard } from './private/monitoring';
import { QueueFailureDestination, createWorkerFailureQueue } from './private/queue-failure-destination';
import { ResolvedBotProps, resolveBotProps } from './private/resolve-props';
import { ENCRYPTION_CONTEXT_KEYS, TABLE_KEYS, TOKEN_PURPOSE, WORKER_KEY_PREFIX } from './private/shared-data';
import { WARNING_PREFIX } from './private/validation';

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
   * Microsoft App ID. Inbound Bot Framework JWTs must carry it as `aud`. Any case: GUIDs are used in lower case
   * (environment, IAM conditions, outputs), as Entra ID issues them.
   */
  readonly appId: string;

  /**
   * The bot's home tenant (Directory (tenant) ID of the app registration). The bot's own app token is requested in
   * this tenant (single-tenant bot). Any case (used in lower case).
   */
  readonly tenantId: string;

  /**
   * Tenants whose users may talk to the bot. A message from any other tenant gets 403, and the KMS key policy grants
   * of the handlers are limited to these tenants' ciphertexts when the ids are literal strings. A list without
   * `tenantId` gives a synth warning (`cdk-teams-delegated-auth-bot:homeTenantNotAllowed`). Any case: the ids are
   * used in lower case, each once.
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
   * The assistant worker instead of the default one: answers each message with an Amazon Bedrock model, streamed into
   * Teams, with read-only Graph tools acting as the user (docs/assistant.md). Mutually exclusive with `worker`. The
   * worker may invoke exactly the configured model or inference profile, guardrail and knowledge base, and the scopes
   * of its tools are added to `graphScopes`.
   *
   * @default - no assistant: the default worker, or `worker`
   */
  readonly assistant?: AssistantOptions;

  /**
   * Delegated Microsoft Graph permissions requested at sign-in, besides `openid profile offline_access`
   * (for example `['User.Read', 'Mail.Read']`). Each must be granted to the app registration. All must belong to one
   * resource (short names are Microsoft Graph's; a URI scope names its resource before the last `/`): scopes of two
   * resources fail at synth, as Entra ID issues a token for one resource per sign-in. With `assistant`, the scopes of
   * its tools are added (each once).
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
   * How many messages are kept per user while they sign in (answered after the sign-in). Further messages are not
   * kept: the user is told once per sign-in (and gets a sign-in card if none is live). Between 1 and 1000.
   *
   * @default 25
   */
  readonly maxPendingMessages?: number;

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
   * Memory of the default or assistant worker function, in MiB (ignored with `worker`, with a synth warning).
   *
   * @default 512 (1024 with `assistant`)
   */
  readonly workerMemorySize?: number;

  /**
   * Timeout of the default or assistant worker function (ignored with `worker`, with a synth warning).
   *
   * @default Duration.minutes(1) (Duration.minutes(5) with `assistant`: a streamed answer with tool calls)
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

  /**
   * CloudWatch namespace of the handlers' metrics (Embedded Metric Format log lines, see docs/operations.md) and of
   * the `metric*()` methods. Give each bot that shares an account and region its own namespace.
   *
   * @default 'TeamsDelegatedAuthBot'
   */
  readonly metricsNamespace?: string;

  /**
   * The default alarms (failure queue, receiver and worker errors, throttles), their thresholds and where they notify.
   *
   * @default - the default alarms with their default thresholds and no notification
   */
  readonly alarms?: BotAlarmOptions;

  /**
   * Whether to create a CloudWatch dashboard with the bot's metrics and alarms.
   *
   * @default false
   */
  readonly dashboard?: boolean;

  /**
   * Reserved concurrency of the receiver: an upper bound on its concurrent executions (a flood of requests to the
   * public URL cannot use the account's whole concurrency) that is also reserved for it.
   *
   * @default - no reservation: the receiver uses the account's unreserved concurrency
   */
  readonly receiverReservedConcurrency?: number;

  /**
   * Reserved concurrency of the default worker (ignored with `worker`). Asynchronous events beyond it are throttled
   * and retried by Lambda for up to `workerMaxEventAge`.
   *
   * @default - no reservation: the worker uses the account's unreserved concurrency
   */
  readonly workerReservedConcurrency?: number;
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

  /** The worker function: the default worker, the assistant worker or `props.worker`. */
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

  /** Log group of the default or assistant worker (undefined with `props.worker`). */
  public readonly workerLogGroup?: logs.ILogGroup;

  /** Public base URL of the receiver, without a trailing slash (a token unless `publicBaseUrl` is set). */
  public readonly baseUrl: string;

  /** Messaging endpoint to paste into the Azure Bot configuration. */
  public readonly messagingEndpoint: string;

  /** Redirect URI to register (Web platform) in the Entra app registration. */
  public readonly redirectUri: string;

  /** Name of the SSM parameter holding the base URL (undefined when `publicBaseUrl` is set). */
  public readonly baseUrlParameterName?: string;

  /**
   * Environment variables a worker needs (set automatically on the default worker and on a `lambda.Function` worker):
   * ids (GUIDs in lower case), resources, and every endpoint resolved for the cloud (`TDAB_GRAPH_BASE_URL`,
   * `TDAB_ENTRA_AUTHORITY`, `TDAB_BOT_CONNECTOR_SCOPE`, `TDAB_SERVICE_URL_HOSTS`, ...), so a worker in any language
   * needs no cloud table.
   */
  public readonly workerEnvironment: { [name: string]: string };

  /** The bot's Microsoft App ID (in lower case). */
  public readonly appId: string;

  /** CloudWatch namespace of the handlers' metrics. */
  public readonly metricsNamespace: string;

  /** The alarms the construct created (see `alarms` in the props). */
  public readonly alarms: cloudwatch.Alarm[];

  /** The CloudWatch dashboard (undefined unless `dashboard` is true). */
  public readonly dashboard?: cloudwatch.Dashboard;

  private readonly allowedTenantIdsForConditions?: string[];
  private readonly createdSecret: boolean;

  constructor(scope: Construct, id: string, props: TeamsDelegatedAuthBotProps) {
    super(scope, id);
    const config = resolveBotProps(this, props);
    this.appId = config.appId;
    this.metricsNamespace = config.metricsNamespace;
    this.allowedTenantIdsForConditions = config.literalTenantIds;

    this.encryptionKey = props.encryptionKey ?? this.createKey(config);
    const logGroups = this.createLogGroups(config, props.encryptionKey);
    const tables = this.createTables(config);
    this.tokenTable = tables.tokenTable;
    this.conversationTable = tables.conversationTable;
    this.createdSecret = props.botSecret === undefined;
    this.botSecret = props.botSecret ?? this.createSecret(config);
    this.workerEnvironment = this.handlerEnvironment(config);

    const worker = props.worker === undefined ? this.createDefaultWorker(config, logGroups) : this.configureWorker(props.worker, config);
    if (config.assistant !== undefined) this.grantAssistantAccess(worker.fn, config);
    this.worker = worker.fn;
    this.workerLogGroup = worker.logGroup;
    this.workerDeadLetterQueue = worker.deadLetterQueue;
    this.grantWorkerInThisStack();

    // The base URL parameter has a fixed name, so the receiver's environment and IAM policy never reference the
    // function URL (which references the receiver): no circular dependency.
    const baseUrlParameter = config.publicBaseUrl === undefined ? baseUrlParameterOf(this) : undefined;
    const receiver = this.createReceiver(config, baseUrlParameter, logGroups);
    this.receiver = receiver.fn;
    this.receiverLogGroup = receiver.logGroup;
    this.receiverUrl = receiver.url;

    if (baseUrlParameter === undefined) {
      this.baseUrl = config.publicBaseUrl!;
    } else {
      this.baseUrl = baseUrlOfFunctionUrl(this.receiverUrl.url);
      this.baseUrlParameterName = baseUrlParameter.name;
      createBaseUrlResource(this, {
        parameter: baseUrlParameter,
        baseUrl: this.baseUrl,
        logGroups,
      });
    }
    this.messagingEndpoint = joinUrl(this.baseUrl, config.messagingPath);
    this.redirectUri = joinUrl(this.baseUrl, config.callbackPath);
    this.createOutputs();
    this.alarms = config.alarms.enabled ? createAlarms(this, config.alarms) : [];
    if (config.dashboard) this.dashboard = createDashboard(this);
    acknowledgeCompliance(this, {
      tables: [this.tokenTable, this.conversationTable],
      createdSecret: this.createdSecret ? this.botSecret : undefined,
      roles: ['ReceiverRole', 'ReceiverSelfInvoke', 'WorkerRole', 'BaseUrlProviderRole', 'BaseUrl'].map((child) => this.node.tryFindChild(child)).filter((c) => c !== undefined),
      receiver: this.receiver,
      defaultWorker: props.worker === undefined ? this.worker : undefined,
      receiverReserved: config.receiverReservedConcurrency !== undefined,
      workerReserved: config.workerReservedConcurrency !== undefined,
      alarmsWithoutAction: config.alarms.actions.length === 0 ? this.alarms : [],
    });
  }

  /**
   * Messages from Teams that passed authentication and the tenant check (`MessagesReceived`, sum over 5 minutes).
   */
  public metricMessages(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.handlerMetric(METRIC.MESSAGES_RECEIVED, 'Receiver', props);
  }

  /** Messages handed straight to the worker with a stored token (`HotPath`, sum). */
  public metricHotPath(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.handlerMetric(METRIC.HOT_PATH, 'Receiver', props);
  }

  /** Messages kept while the user was asked to sign in (`Prompted`, sum). */
  public metricPrompted(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.handlerMetric(METRIC.PROMPTED, 'Receiver', props);
  }

  /** Kept messages handed to the worker after a sign-in or refresh (`Resumed`, sum). */
  public metricResumed(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.handlerMetric(METRIC.RESUMED, 'Receiver', props);
  }

  /** Milliseconds from receiving a kept message to handing it to the worker (`ResumeLatency`, p90). */
  public metricResumeLatency(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.handlerMetric(METRIC.RESUME_LATENCY, 'Receiver', { statistic: 'p90', ...props });
  }

  /** Sign-ins completed, by the callback or Teams SSO (`SignIns`, sum). */
  public metricSignIns(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.handlerMetric(METRIC.SIGN_INS, 'Receiver', props);
  }

  /**
   * Sign-ins that failed (`SignInFailures`, sum). Per reason: pass `dimensionsMap: { Service: 'Receiver', Reason: '...' }`.
   */
  public metricSignInFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.handlerMetric(METRIC.SIGN_IN_FAILURES, 'Receiver', props);
  }

  /** Access tokens refreshed (`Refreshes`, sum). */
  public metricRefreshes(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.handlerMetric(METRIC.REFRESHES, 'Receiver', props);
  }

  /** Refreshes that failed (`RefreshFailures`, sum; reasons `rejected` and `unavailable`). */
  public metricRefreshFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.handlerMetric(METRIC.REFRESH_FAILURES, 'Receiver', props);
  }

  /** Teams SSO token exchanges that signed the user in (`SsoExchanges`, sum). */
  public metricSsoExchanges(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.handlerMetric(METRIC.SSO_EXCHANGES, 'Receiver', props);
  }

  /** Requests refused by Bot Framework authentication (`AuthRefusals`, sum; a security signal, by `Reason`). */
  public metricAuthRefusals(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.handlerMetric(METRIC.AUTH_REFUSALS, 'Receiver', props);
  }

  /** Other refused requests, 4xx (`RequestsRefused`, sum, by `Reason`). */
  public metricRequestsRefused(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.handlerMetric(METRIC.REQUESTS_REFUSED, 'Receiver', props);
  }

  /** Requests answered 503 because a dependency failed (`RequestsFailed`, sum, by `Reason`). */
  public metricRequestsFailed(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.handlerMetric(METRIC.REQUESTS_FAILED, 'Receiver', props);
  }

  /** Messages the worker answered (`WorkerReplies`, sum). */
  public metricWorkerReplies(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.handlerMetric(METRIC.WORKER_REPLIES, 'Worker', props);
  }

  /** Apologies the worker sent after failing before its reply (`WorkerApologies`, sum). */
  public metricWorkerApologies(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.handlerMetric(METRIC.WORKER_APOLOGIES, 'Worker', props);
  }

  /** Worker attempts that failed before replying (`WorkerFailures`, sum, by `Reason`: the error name). */
  public metricWorkerFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.handlerMetric(METRIC.WORKER_FAILURES, 'Worker', props);
  }

  /**
   * Messages waiting in the worker's failure queue (`ApproximateNumberOfMessagesVisible`, maximum over 5 minutes).
   * Throws when the construct does not own the failure queue (see `workerDeadLetterQueue`).
   */
  public metricFailedMessages(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    if (this.workerDeadLetterQueue === undefined) {
      throw new Error(`${this.node.path}: there is no failure queue (the worker is not a lambda.Function of this stack ` +
        'without its own asynchronous invocation configuration), so there is no failed-messages metric');
    }
    return this.workerDeadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: Duration.minutes(5), ...props });
  }

  private handlerMetric(metricName: string, service: string, props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: this.metricsNamespace,
      metricName,
      statistic: 'Sum',
      period: Duration.minutes(5),
      ...props,
      dimensionsMap: { Service: service, ...props?.dimensionsMap },
    });
  }

  /** The customer-managed key of the tokens and of every encrypted resource (when `props.encryptionKey` is not given). */
  private createKey(config: ResolvedBotProps): kms.IKey {
    return new kms.Key(this, 'Key', {
      description: `Delegated user tokens and data of the Teams bot ${this.node.path}`,
      enableKeyRotation: true,
      removalPolicy: config.removalPolicy,
    });
  }

  /**
   * The factory of the construct's log groups: encrypted with the key when the construct can add the CloudWatch Logs
   * statement to its key policy (its own key, or a `kms.Key` of this stack); otherwise a warning says so.
   */
  private createLogGroups(config: ResolvedBotProps, userKey: kms.IKey | undefined): BotLogGroups {
    const key = this.encryptionKey;
    const ownKey = key instanceof kms.Key && (userKey === undefined || Stack.of(key) === Stack.of(this)) ? key : undefined;
    if (ownKey === undefined) {
      Annotations.of(this).addWarningV2(`${WARNING_PREFIX}:logGroupsNotEncrypted`,
        `The encryption key ${key.node.path} is imported or belongs to another stack, so the construct cannot let CloudWatch ` +
        'Logs use it: the log groups use CloudWatch Logs\' own encryption. Pass a kms.Key of this stack to encrypt them.');
    }
    return new BotLogGroups(this, { retention: config.logRetention, removalPolicy: config.removalPolicy, key: ownKey });
  }

  /** The token table and the conversation table: on demand, encrypted with the key, TTL, point-in-time recovery. */
  private createTables(config: ResolvedBotProps): { tokenTable: dynamodb.Table; conversationTable: dynamodb.Table } {
    const tokenTable = new dynamodb.Table(this, 'TokenTable', {
      partitionKey: { name: TABLE_KEYS.partitionKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.encryptionKey,
      timeToLiveAttribute: TABLE_KEYS.ttl,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: config.removalPolicy,
    });
    const conversationTable = new dynamodb.Table(this, 'ConversationTable', {
      partitionKey: { name: TABLE_KEYS.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: this.encryptionKey,
      timeToLiveAttribute: TABLE_KEYS.ttl,
      // Records live minutes to a day; recovery still costs little and keeps a restore possible.
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: config.removalPolicy,
    });
    return { tokenTable, conversationTable };
  }

  /** The bot's secret, created with a placeholder the handlers refuse (when `props.botSecret` is not given). */
  private createSecret(config: ResolvedBotProps): secretsmanager.ISecret {
    const secret = new secretsmanager.Secret(this, 'BotSecret', {
      description: `Client secret of the Teams bot ${this.node.path}: {"${BOT_SECRET_FIELD}": "..."}`,
      encryptionKey: this.encryptionKey,
      // A placeholder, not a secret: the handlers refuse it and tell the operator to store the real client secret.
      secretObjectValue: { [BOT_SECRET_FIELD]: SecretValue.unsafePlainText(BOT_SECRET_PLACEHOLDER) },
      removalPolicy: config.removalPolicy,
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'The secret holds the client secret of the bot\'s Entra ID app registration. Entra ID issues and expires it; ' +
        'no AWS rotation function can create a new one. Rotate it in Entra ID and store it with put-secret-value.',
    });
    return secret;
  }

  /**
   * The environment both the receiver and a worker need. Every endpoint of the one endpoint table is written resolved
   * (the override, else the cloud profile's value), so a worker in any language needs no cloud table of its own.
   */
  private handlerEnvironment(config: ResolvedBotProps): { [name: string]: string } {
    const env: { [name: string]: string } = {
      [ENV.APP_ID]: config.appId,
      [ENV.TENANT_ID]: config.tenantId,
      [ENV.ALLOWED_TENANT_IDS]: joinList(',', config.allowedTenantIds),
      [ENV.CLOUD]: config.cloud.profileName,
      [ENV.SECRET_ARN]: this.botSecret.secretArn,
      [ENV.KMS_KEY_ARN]: this.encryptionKey.keyArn,
      [ENV.CONVERSATION_TABLE]: this.conversationTable.tableName,
      [ENV.GRAPH_SCOPES]: joinList(' ', config.graphScopes),
      [ENV.LOG_LEVEL]: config.logLevel,
      [ENV.METRICS_NAMESPACE]: config.metricsNamespace,
    };
    for (const { key, env: name } of ENDPOINT_ENV) {
      const value = config.endpoints[key] ?? config.cloud[key];
      env[name] = typeof value === 'string' ? value : joinList(',', value);
    }
    return env;
  }

  /** The default worker (Graph profile reply) or the assistant worker (Bedrock), with its failure queue. */
  private createDefaultWorker(config: ResolvedBotProps, logGroups: BotLogGroups): WorkerParts {
    const assistant = config.assistant;
    const { fn, logGroup } = createBotFunction(this, config, {
      id: 'Worker',
      bundle: assistant === undefined ? 'worker' : 'assistant',
      description: assistant === undefined
        ? 'Teams bot worker: acts on a message with the user\'s delegated Microsoft Graph token'
        : 'Teams bot assistant: answers with an Amazon Bedrock model, reading Microsoft Graph as the user',
      roleDescription: `${assistant === undefined ? 'Default' : 'Assistant'} worker of the Teams bot ${this.node.path}`,
      size: config.worker,
      environment: { ...this.workerEnvironment, ...assistant?.environment },
      reservedConcurrency: config.workerReservedConcurrency,
      logGroups,
    });
    const deadLetterQueue = createWorkerFailureQueue(this, this.encryptionKey, config.removalPolicy);
    fn.configureAsyncInvoke(this.workerAsyncConfig(config, deadLetterQueue));
    return { fn, logGroup, deadLetterQueue };
  }

  /**
   * The user's worker: a `lambda.Function` of this stack gets the environment and (unless it has one) the failure
   * queue; anything else gets a warning listing what to set.
   */
  private configureWorker(worker: lambda.IFunction, config: ResolvedBotProps): WorkerParts {
    // Only a function of this stack can take the environment: from another stack, its environment would reference
    // this stack while the receiver references the function (a cross-stack cycle).
    if (!(worker instanceof lambda.Function && Stack.of(worker) === Stack.of(this))) {
      const names = Object.keys(this.workerEnvironment).join(', ');
      Annotations.of(this).addWarningV2(`${WARNING_PREFIX}:workerNotConfigurable`,
        `The worker ${worker.node.path} is not a lambda.Function of this stack, so the construct cannot configure it. ` +
        `Set its environment variables from the workerEnvironment property (${names}) and give it an on-failure destination ` +
        '(EventInvokeConfig) so failed messages are not lost. Its execution role gets grantWorkerAccess() when it has one.');
      return { fn: worker };
    }
    for (const [name, value] of Object.entries(this.workerEnvironment)) {
      worker.addEnvironment(name, value);
    }
    if (worker.node.tryFindChild('EventInvokeConfig') !== undefined) {
      Annotations.of(this).addWarningV2(`${WARNING_PREFIX}:workerAsyncConfigKept`,
        `The worker ${worker.node.path} already has an asynchronous invocation configuration; it is kept as is. ` +
        'Make sure it has an on-failure destination, or failed messages disappear silently.');
      return { fn: worker };
    }
    const deadLetterQueue = createWorkerFailureQueue(this, this.encryptionKey, config.removalPolicy);
    worker.configureAsyncInvoke(this.workerAsyncConfig(config, deadLetterQueue));
    return { fn: worker, deadLetterQueue };
  }

  private workerAsyncConfig(config: ResolvedBotProps, queue: sqs.IQueue): lambda.EventInvokeConfigOptions {
    return {
      retryAttempts: config.workerRetryAttempts,
      maxEventAge: config.workerMaxEventAge,
      onFailure: new QueueFailureDestination(queue, this.encryptionKey),
    };
  }

  /** `grantWorkerAccess()` on the worker, unless it belongs to another stack (the grant would make a cycle). */
  private grantWorkerInThisStack(): void {
    if (Stack.of(this.worker) === Stack.of(this)) {
      this.grantWorkerAccess(this.worker);
      return;
    }
    Annotations.of(this).addWarningV2(`${WARNING_PREFIX}:workerInOtherStack`,
      `The worker ${this.worker.node.path} belongs to another stack: granting it access or configuring it from here would ` +
      'make the two stacks reference each other. Define the worker in the same stack as the bot, or import it by ARN ' +
      '(lambda.Function.fromFunctionAttributes with its role) in this stack.');
  }

  /** The receiver, its grants and its public function URL. */
  private createReceiver(config: ResolvedBotProps, baseUrlParameter: BaseUrlParameter | undefined, logGroups: BotLogGroups): ReceiverParts {
    const environment: { [name: string]: string } = {
      ...this.workerEnvironment,
      [ENV.TOKEN_TABLE]: this.tokenTable.tableName,
      [ENV.WORKER_FUNCTION]: this.worker.functionArn,
      [ENV.MESSAGING_PATH]: config.messagingPath,
      [ENV.CALLBACK_PATH]: config.callbackPath,
      [ENV.PENDING_TTL_SECONDS]: String(config.pendingTtlSeconds),
      [ENV.SIGNIN_TTL_SECONDS]: String(config.signInTtlSeconds),
      [ENV.MAX_PENDING_MESSAGES]: Tokenization.stringifyNumber(config.maxPendingMessages),
      [ENV.SSO_ENABLED]: config.sso.enabled ? 'true' : 'false',
      [ENV.SSO_RESOURCE]: config.sso.resource,
      [ENV.SSO_SCOPE]: config.sso.scope,
    };
    if (baseUrlParameter === undefined) {
      environment[ENV.PUBLIC_BASE_URL] = config.publicBaseUrl!;
    } else {
      environment[ENV.BASE_URL_PARAMETER] = baseUrlParameter.name;
    }
    const { fn, role, logGroup } = createBotFunction(this, config, {
      id: 'Receiver',
      bundle: 'receiver',
      description: 'Teams bot receiver: Bot Framework messaging endpoint and OAuth callback',
      roleDescription: `Receiver of the Teams bot ${this.node.path}`,
      size: config.receiver,
      environment,
      reservedConcurrency: config.receiverReservedConcurrency,
      logGroups,
    });
    // Every request is authenticated by the handler: Bot Framework JWT on the messaging endpoint, single-use
    // state + PKCE on the callback. Teams and browsers cannot sign requests with SigV4.
    const url = fn.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.NONE });
    this.grantReceiverAccess(role, baseUrlParameter?.arn);
    this.grantResumeContinuation(fn, role);
    return { fn, logGroup, url };
  }

  /**
   * The receiver may invoke itself (the resume continuation: docs/receiver.md, "Resume"), and nothing else may be
   * invoked through this statement. It lives in a policy of its own: in the role's default policy the function's ARN
   * would make the function depend on a policy that references it (a CloudFormation cycle). Until this policy exists
   * (the first minutes of the first deployment), a continuation fails and the receiver falls back to resuming at the
   * user's next message.
   */
  private grantResumeContinuation(fn: lambda.Function, role: iam.Role): void {
    new iam.Policy(this, 'ReceiverSelfInvoke', {
      roles: [role],
      statements: [new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] })],
    });
  }

  /** What the operator copies into Azure, Entra ID and the Teams app package. */
  private createOutputs(): void {
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
      value: this.appId,
    });
    new CfnOutput(this, 'BotSecretArn', {
      description: 'Store the client secret here: {"clientSecret": "..."}',
      value: this.botSecret.secretArn,
    });
  }

  /**
   * Gives a worker exactly what it needs: `kms:Decrypt` of access-token data keys only (encryption context
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
      conditions: { StringEquals: this.tokenContextConditions([TOKEN_PURPOSE.access]) },
    });
    const records = iam.Grant.addToPrincipal({
      grantee,
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
      resourceArns: [this.conversationTable.tableArn],
      conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [`${WORKER_KEY_PREFIX}*`] } },
    });
    return decrypt
      .combine(records)
      .combine(this.grantTableKeyUse(grantee))
      .combine(this.grantSecretRead(grantee));
  }

  /**
   * The assistant worker's extra access: its Bedrock model, guardrail and knowledge base, and (with memory)
   * GenerateDataKey and Decrypt of the data keys of its memory items only (envelope encryption; encryption context
   * `purpose` = `assistant_memory`, bound to one user of this bot).
   */
  private grantAssistantAccess(grantee: iam.IGrantable, config: ResolvedBotProps): void {
    const assistant = config.assistant!;
    grantAssistantBedrock(grantee, assistant);
    if (assistant.memoryTurns === 0) return;
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
      resourceArns: [this.encryptionKey.keyArn],
      conditions: {
        'StringEquals': this.tokenContextConditions([ASSISTANT_MEMORY_PURPOSE]),
        'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': [...ENCRYPTION_CONTEXT_KEYS] },
        'Null': { 'kms:EncryptionContext:tenantId': 'false', 'kms:EncryptionContext:aadObjectId': 'false' },
      },
    });
  }

  private grantReceiverAccess(grantee: iam.IGrantable, baseUrlParameterArn: string | undefined): void {
    // Data keys (envelope encryption: one GenerateDataKey per token, no kms:Encrypt) only for tokens bound to one user
    // of this bot: context keys exactly appId, tenantId, aadObjectId, purpose; appId this bot; tenantId an allowed
    // tenant (when literal).
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['kms:GenerateDataKey'],
      resourceArns: [this.encryptionKey.keyArn],
      conditions: {
        'StringEquals': this.tokenContextConditions([TOKEN_PURPOSE.access, TOKEN_PURPOSE.refresh]),
        'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': [...ENCRYPTION_CONTEXT_KEYS] },
        'Null': { 'kms:EncryptionContext:tenantId': 'false', 'kms:EncryptionContext:aadObjectId': 'false' },
      },
    });
    // Decrypt the data keys of refresh tokens only: the receiver never needs an access token in clear.
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['kms:Decrypt'],
      resourceArns: [this.encryptionKey.keyArn],
      conditions: { StringEquals: this.tokenContextConditions([TOKEN_PURPOSE.refresh]) },
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
}

/** The worker and what the construct created for it. */
interface WorkerParts {
  readonly fn: lambda.IFunction;
  readonly logGroup?: logs.ILogGroup;
  readonly deadLetterQueue?: sqs.IQueue;
}

/** The receiver and what the construct created for it. */
interface ReceiverParts {
  readonly fn: lambda.Function;
  readonly logGroup: logs.ILogGroup;
  readonly url: lambda.FunctionUrl;
}

/** A list as one string (a CloudFormation join when the list is a token). */
function joinList(separator: string, values: string[]): string {
  return Token.isUnresolved(values) ? Fn.join(separator, values) : values.join(separator);
}
