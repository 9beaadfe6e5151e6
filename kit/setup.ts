/**
 * Once per container: configuration from the `TDAB_*` environment, the SDK clients, the bot's app token provider,
 * the Bot Connector client and the idempotency store. Nothing happens at module scope; the first event builds it.
 */
// Handler dependencies are devDependencies (esbuild inlines them into the bundles).
// eslint-disable-next-line import/no-extraneous-dependencies
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
// eslint-disable-next-line import/no-extraneous-dependencies
import { KMSClient } from '@aws-sdk/client-kms';
// eslint-disable-next-line import/no-extraneous-dependencies
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { WorkerOptions } from './types';
import { AWS_SDK_CLIENT_OPTIONS } from '../lambda/shared/aws-sdk-options';
import { BotAppTokenProvider, BotConnectorClient } from '../lambda/shared/bot-connector';
import { botSecretReader } from '../lambda/shared/bot-secret';
import { loadConfig, requireConfigValue, ResolvedConfig } from '../lambda/shared/config';
import { IdempotencyStore } from '../lambda/shared/idempotency';
import { setLogLevel } from '../lambda/shared/log';

/** What every event of a container shares. */
export interface KitRuntime {
  readonly config: ResolvedConfig;
  readonly options: WorkerOptions;
  readonly kms: KMSClient;
  readonly connector: BotConnectorClient;
  readonly idempotency: IdempotencyStore;
}

/** Builds the container's runtime from the options and the environment (`TDAB_*`, docs/configuration.md). */
export function setup(options: WorkerOptions): KitRuntime {
  const config = loadConfig(options.env ?? process.env);
  setLogLevel(config.logLevel);
  const secretArn = requireConfigValue(config, 'secretArn');
  const tableName = requireConfigValue(config, 'conversationTable');
  const dynamodb = options.clients?.dynamodb ?? new DynamoDBClient(AWS_SDK_CLIENT_OPTIONS);
  const kms = options.clients?.kms ?? new KMSClient(AWS_SDK_CLIENT_OPTIONS);
  const secretsManager = options.clients?.secretsManager ?? new SecretsManagerClient(AWS_SDK_CLIENT_OPTIONS);
  const tokens = new BotAppTokenProvider({
    appId: config.appId,
    tenantId: config.tenantId,
    authority: config.entraAuthority,
    scope: config.botConnectorScope,
    getClientSecret: botSecretReader(secretsManager, secretArn),
    timeoutMs: options.timeoutMs,
  });
  const connector = new BotConnectorClient({
    tokens,
    serviceUrlHosts: config.serviceUrlHosts,
    timeoutMs: options.timeoutMs,
    maxRetries: options.maxRetries,
  });
  const idempotency = new IdempotencyStore({ ddb: dynamodb, tableName, ttlSeconds: options.idempotencyTtlSeconds });
  return { config, options, kms, connector, idempotency };
}

/** A setup that runs once, on first use (a failed setup is retried by the next event). */
export function once(options: WorkerOptions): () => KitRuntime {
  let runtime: KitRuntime | undefined;
  return () => (runtime ??= setup(options));
}
