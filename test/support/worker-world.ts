/**
 * The local world of the worker tests (kit, bundled default worker, Python worker):
 *
 * - {@link startWorkerWorld}: DynamoDB Local + moto_server (tables, KMS key, the bot's secret), oidc-provider (the bot's
 *   client-credentials token), a Bot Connector stand-in that only accepts that token, and the Graph stand-in.
 * - {@link signedInWorkerEvent}: a contract event whose token part is a user token encrypted with the world's key.
 */
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startBotConnector, startGraphStandIn, type BotConnectorStub, type GraphStandIn } from './bot-connector-stub';
import { createKey, createSecret, createTables, startLocalAws, type LocalAws } from './local-aws';
import { startIdentityProvider, type IdentityProvider } from './oidc-idp';
import { toWorkerEvent, type ConversationReference, type WorkerEvent } from '../../lambda/shared/contract';
import { tokenEncryptionContext, type TokenCipher } from '../../lambda/shared/crypto';

/** Names and ids of a {@link startWorkerWorld} world; each suite picks its own. */
export interface WorkerWorldOptions {
  readonly appId: string;
  readonly tenantId: string;
  readonly clientSecret: string;
  readonly tables: { readonly tokenTable: string; readonly conversationTable: string };
  /** Name of the bot's Secrets Manager secret. */
  readonly secretName: string;
}

/** A running worker world. */
export interface WorkerWorld {
  readonly aws: LocalAws;
  readonly idp: IdentityProvider;
  /** Bot Connector stand-in: answers 401 unless the bearer token is the bot's app token issued by `idp`. */
  readonly bc: BotConnectorStub;
  readonly graph: GraphStandIn;
  readonly keyArn: string;
  readonly secretArn: string;
  /**
   * The worker's configuration common to every worker test: `TDAB_APP_ID`, `TDAB_TENANT_ID`, `TDAB_SECRET_ARN`,
   * `TDAB_CONVERSATION_TABLE` and the endpoints the construct writes resolved (`TDAB_ENTRA_AUTHORITY`,
   * `TDAB_BOT_CONNECTOR_SCOPE`, `TDAB_GRAPH_BASE_URL`, `TDAB_SERVICE_URL_HOSTS`).
   */
  readonly workerEnv: Record<string, string>;
  /** Stops every server of the world (also when called twice). */
  stop(): Promise<void>;
}

/** Starts a {@link WorkerWorld}; on failure stops what was started and rethrows. */
export async function startWorkerWorld(o: WorkerWorldOptions): Promise<WorkerWorld> {
  const started: Array<{ stop(): Promise<void> }> = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(started.splice(0).map((s) => s.stop().catch(() => undefined)));
  };
  try {
    const [aws, idp] = await Promise.all([
      startLocalAws().then((a) => { started.push(a); return a; }),
      startIdentityProvider({ tenantId: o.tenantId, clients: [{ appId: o.appId, secret: o.clientSecret, redirectUris: ['http://127.0.0.1/cb'] }], users: [] })
        .then((i) => { started.push(i); return i; }),
    ]);
    await createTables(aws.dynamodbEndpoint, o.tables);
    const keyArn = await createKey(aws.motoEndpoint);
    const secretArn = await createSecret(aws.motoEndpoint, o.secretName, JSON.stringify({ clientSecret: o.clientSecret }));
    const jwks = createRemoteJWKSet(new URL(idp.jwksUri));
    const bc = await startBotConnector({
      verifyToken: async (authorization) => {
        const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
        if (!token) return false;
        const { payload } = await jwtVerify(token, jwks, { issuer: idp.issuer, audience: 'https://api.botframework.com' });
        return payload.appid === o.appId || payload.azp === o.appId;
      },
    });
    started.push(bc);
    const graph = await startGraphStandIn();
    started.push(graph);
    return {
      aws,
      idp,
      bc,
      graph,
      keyArn,
      secretArn,
      workerEnv: {
        TDAB_APP_ID: o.appId,
        TDAB_TENANT_ID: o.tenantId,
        TDAB_SECRET_ARN: secretArn,
        TDAB_CONVERSATION_TABLE: o.tables.conversationTable,
        TDAB_ENTRA_AUTHORITY: idp.authority,
        TDAB_BOT_CONNECTOR_SCOPE: 'https://api.botframework.com/.default',
        TDAB_GRAPH_BASE_URL: graph.baseUrl,
        TDAB_SERVICE_URL_HOSTS: bc.origin,
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** What {@link signedInWorkerEvent} builds an event from. */
export interface SignedInEventSpec {
  readonly appId: string;
  /** The user's access token (encrypted with `cipher`, context bound to the conversation's tenant and user). */
  readonly token: string;
  readonly text: string;
  readonly activityId: string;
  /** The conversation reference without `activityId` (set from `activityId`); needs a tenant id and an object id. */
  readonly conversation: Omit<ConversationReference, 'activityId'>;
  readonly resumed?: boolean;
}

/** A contract event as the receiver sends it once the user has signed in (token expiring in one hour, `User.Read`). */
export async function signedInWorkerEvent(cipher: TokenCipher, spec: SignedInEventSpec): Promise<WorkerEvent> {
  const tenantId = spec.conversation.conversation.tenantId;
  const aadObjectId = spec.conversation.user.aadObjectId;
  if (!tenantId || !aadObjectId) throw new Error('signedInWorkerEvent: the conversation needs a tenantId and a user aadObjectId');
  const accessToken = await cipher.encrypt(spec.token, tokenEncryptionContext(spec.appId, { tenantId, aadObjectId }, 'access_token'));
  const resumed = spec.resumed ?? false;
  return toWorkerEvent({
    type: 'teams-delegated-auth-bot.message',
    version: '2',
    resumed,
    receivedAt: new Date().toISOString(),
    conversation: { ...spec.conversation, activityId: spec.activityId },
    message: { id: spec.activityId, text: spec.text, textFormat: 'plain', attachments: [] },
  }, { accessToken, expiresAt: Math.floor(Date.now() / 1000) + 3600, scopes: 'User.Read' }, { resumed });
}
