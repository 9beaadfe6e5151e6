/**
 * Names of the environment variables the construct sets and the handlers read. One list, imported on both
 * sides (src/ by the construct, lambda/ by the handlers), documented in docs/configuration.md.
 */
export const ENV = {
  /** The bot's Microsoft App ID (client id of its Entra app registration). */
  APP_ID: 'TDAB_APP_ID',
  /** The bot's home tenant: its app token is requested there. */
  TENANT_ID: 'TDAB_TENANT_ID',
  /** Comma-separated tenant ids whose users may talk to the bot. */
  ALLOWED_TENANT_IDS: 'TDAB_ALLOWED_TENANT_IDS',
  /** ARN of the Secrets Manager secret `{"clientSecret": "..."}`. */
  SECRET_ARN: 'TDAB_SECRET_ARN',
  /** ARN of the KMS key that encrypts the tokens. */
  KMS_KEY_ARN: 'TDAB_KMS_KEY_ARN',
  /** Token table name. */
  TOKEN_TABLE: 'TDAB_TOKEN_TABLE',
  /** Conversation table name (pending messages, sign-in states, dedupe and idempotency records). */
  CONVERSATION_TABLE: 'TDAB_CONVERSATION_TABLE',
  /** Worker function name or ARN (receiver only). */
  WORKER_FUNCTION: 'TDAB_WORKER_FUNCTION',
  /** Name of the SSM parameter holding the receiver's public base URL (no trailing slash). */
  BASE_URL_PARAMETER: 'TDAB_BASE_URL_PARAMETER',
  /** Public base URL (custom domain); wins over BASE_URL_PARAMETER. */
  PUBLIC_BASE_URL: 'TDAB_PUBLIC_BASE_URL',
  /** Path of the messaging endpoint, e.g. `/api/messages`. */
  MESSAGING_PATH: 'TDAB_MESSAGING_PATH',
  /** Path of the OAuth callback, e.g. `/auth/callback`. */
  CALLBACK_PATH: 'TDAB_CALLBACK_PATH',
  /** Space-separated delegated scopes requested besides `openid profile offline_access`. */
  GRAPH_SCOPES: 'TDAB_GRAPH_SCOPES',
  /** Cloud profile name: public | usgov | usgovdod | china. */
  CLOUD: 'TDAB_CLOUD',
  /** Endpoints: the construct writes each resolved (override, else the cloud profile's value); handlers default to the profile. */
  BOT_OPENID_METADATA_URL: 'TDAB_BOT_OPENID_METADATA_URL',
  BOT_TOKEN_ISSUER: 'TDAB_BOT_TOKEN_ISSUER',
  ENTRA_AUTHORITY: 'TDAB_ENTRA_AUTHORITY',
  BOT_CONNECTOR_SCOPE: 'TDAB_BOT_CONNECTOR_SCOPE',
  GRAPH_BASE_URL: 'TDAB_GRAPH_BASE_URL',
  /** Comma-separated allowed serviceUrl hosts (`*.` wildcard) or origins (`http://127.0.0.1:4000` for tests). */
  SERVICE_URL_HOSTS: 'TDAB_SERVICE_URL_HOSTS',
  /** Seconds a waiting message is kept (default 86400). */
  PENDING_TTL_SECONDS: 'TDAB_PENDING_TTL_SECONDS',
  /** Seconds a sign-in state is valid (default 600). */
  SIGNIN_TTL_SECONDS: 'TDAB_SIGNIN_TTL_SECONDS',
  /** Messages kept per user while they sign in (default 25). */
  MAX_PENDING_MESSAGES: 'TDAB_MAX_PENDING_MESSAGES',
  /** Teams SSO (token exchange): "true" | "false". */
  SSO_ENABLED: 'TDAB_SSO_ENABLED',
  /** Application ID URI used as tokenExchangeResource.uri (default `api://botid-{appId}`). */
  SSO_RESOURCE: 'TDAB_SSO_RESOURCE',
  /** Scope the SSO token must carry in `scp` (default `access_as_user`). */
  SSO_SCOPE: 'TDAB_SSO_SCOPE',
  /** Log level: debug | info | warn | error. */
  LOG_LEVEL: 'TDAB_LOG_LEVEL',
  /** CloudWatch namespace of the handlers' metrics (EMF), default `TeamsDelegatedAuthBot`. */
  METRICS_NAMESPACE: 'TDAB_METRICS_NAMESPACE',
} as const;

/** The endpoints a deployment may override: each a field of `BotCloudEndpoints` and of the cloud profile. */
export type EndpointKey =
  'botOpenIdMetadataUrl' | 'botTokenIssuer' | 'entraAuthority' | 'botConnectorScope' | 'graphBaseUrl' | 'serviceUrlHosts';

/** One endpoint override: the prop field, the environment variable carrying it, and its kind of value. */
export interface EndpointEnvEntry {
  readonly key: EndpointKey;
  readonly env: string;
  /** `url`: one https URL without a trailing slash; `hosts`: a host list, comma-separated in the variable. */
  readonly kind: 'url' | 'hosts';
}

/**
 * Each endpoint and its environment variable, in one table: the construct validates the overrides from it and writes
 * every endpoint resolved (the override, else the cloud profile's value) into the environment of the receiver and of
 * every worker, so a worker in any language reads its endpoints and needs no cloud table. The handlers still fall
 * back to the profile of `TDAB_CLOUD` when a variable is unset (a hand-written environment).
 */
export const ENDPOINT_ENV: readonly EndpointEnvEntry[] = [
  { key: 'botOpenIdMetadataUrl', env: ENV.BOT_OPENID_METADATA_URL, kind: 'url' },
  { key: 'botTokenIssuer', env: ENV.BOT_TOKEN_ISSUER, kind: 'url' },
  { key: 'entraAuthority', env: ENV.ENTRA_AUTHORITY, kind: 'url' },
  { key: 'botConnectorScope', env: ENV.BOT_CONNECTOR_SCOPE, kind: 'url' },
  { key: 'graphBaseUrl', env: ENV.GRAPH_BASE_URL, kind: 'url' },
  { key: 'serviceUrlHosts', env: ENV.SERVICE_URL_HOSTS, kind: 'hosts' },
];
