/**
 * The resume is bounded per request and continued outside it (issue 11, point 6): a sign-in hands over at most
 * RESUME_BUDGET messages itself; a resume continuation (the receiver invoking itself, InvocationType Event, through the
 * Lambda Invoke stand-in) hands over the rest. Every message is answered exactly once at the Bot Connector stand-in
 * (the worker stand-in answers through the worker kit's idempotency record), whatever runs twice.
 */
import {
  localClients, newTestUser, rawTokenItem, startInProcessReceiver, teamsMessage, messageEvent, type ReceiverEnv, type TestUser,
} from './receiver-support';
import { pendingEventOf, validateActivity } from '../../lambda/receiver/activity';
import { handleCallback } from '../../lambda/receiver/callback';
import { createReceiverContext, type ReceiverContext } from '../../lambda/receiver/context';
import { createHandler } from '../../lambda/receiver/index';
import { isResumeContinuation, RESUME_BUDGET, RESUME_EVENT_TYPE } from '../../lambda/receiver/resume';
import { loadConfig } from '../../lambda/shared/config';
import { DEFAULT_MAX_PENDING_MESSAGES } from '../../lambda/shared/conversation-store';
import { pkceChallenge } from '../../lambda/shared/entra-oauth';
import { answerKey, answersByActivity, replyingWorker, routeInvocations } from '../support/replying-worker';

jest.setTimeout(120_000);

const RECEIVER = 'tdab-receiver';
let env: ReceiverEnv;
let ctx: ReceiverContext;
let stop: () => Promise<void>;
let destroyClients: () => void;
let receiver: ReturnType<typeof createHandler>;
/** Continuations wait for this gate (so a test can look at what the request itself did). */
let gate: Promise<void> = Promise.resolve();

beforeAll(async () => {
  ({ env, stop } = await startInProcessReceiver());
  const clients = localClients(env);
  destroyClients = clients.destroy;
  ctx = createReceiverContext(loadConfig(env.env as NodeJS.ProcessEnv), clients, { selfFunction: RECEIVER });
  receiver = createHandler(() => ctx);
  env.worker.setHandler(routeInvocations({
    receiverFunction: RECEIVER,
    receiver: () => async (event, context) => {
      await gate;
      return receiver(event as never, { awsRequestId: context.awsRequestId });
    },
    worker: replyingWorker({ ddb: () => env.ddb, tableName: () => env.tables.conversationTable }),
  }));
}, 180_000);

afterAll(async () => {
  destroyClients?.();
  await stop?.();
});

const userKey = (u: TestUser) => ({ tenantId: env.tenantId, aadObjectId: u.oid });

/** Keeps `n` messages of `user` waiting (arrival order = index order); returns their activity ids. */
async function keep(user: TestUser, n: number): Promise<string[]> {
  const ids: string[] = [];
  const t0 = Date.now();
  for (let i = 0; i < n; i++) {
    const activity = teamsMessage(env, user, `waiting ${i}`);
    await ctx.conversations.addPendingMessage(userKey(user), activity.id as string, pendingEventOf(validateActivity(activity), t0 + i));
    ids.push(activity.id as string);
  }
  return ids;
}

/** The browser coming back from the IdP for a fresh sign-in state of `user`. */
async function signInQuery(user: TestUser): Promise<string> {
  const issued = await ctx.signInStates.issue(userKey(user), { personal: true, expiresAt: Math.floor(Date.now() / 1000) + 600 });
  const url = ctx.oauth.authorizeUrl({
    tenantId: env.tenantId,
    state: issued.state,
    nonce: issued.nonce,
    codeChallenge: pkceChallenge(issued.codeVerifier),
    scopes: ctx.oauth.scopesFor(ctx.config.graphScopes),
    redirectUri: await ctx.redirectUri(),
  });
  return (await env.idp.signIn(url, user.login)).search.slice(1);
}

const workerRecords = (u: TestUser) => env.worker.records.filter((r) => r.functionName !== RECEIVER
  && (r.payload as any)?.conversation?.user?.aadObjectId === u.oid);
const continuations = (u: TestUser) => env.worker.records.filter((r) => r.functionName === RECEIVER
  && (r.payload as any)?.user?.aadObjectId === u.oid);
/** Activity ids in the order they were first handed to the worker. */
const firstHandOvers = (u: TestUser) => [...new Set(workerRecords(u).map((r) => (r.payload as any).message.id as string))];

function expectAnsweredOnce(user: TestUser, ids: string[]): void {
  const answers = answersByActivity(env.connector);
  expect(ids.map((id) => answers.get(answerKey(`a:1conv-${user.oid}`, id)) ?? 0)).toEqual(ids.map(() => 1));
}

test('a sign-in with the maximum of kept messages hands over one budget, answers the page, and a continuation does the rest', async () => {
  expect(DEFAULT_MAX_PENDING_MESSAGES).toBeGreaterThan(RESUME_BUDGET.messages); // the test exercises the continuation
  const user = await newTestUser(env, 'Max');
  const ids = await keep(user, DEFAULT_MAX_PENDING_MESSAGES);
  let open!: () => void;
  gate = new Promise((resolve) => (open = resolve));
  const r = await handleCallback(await signInQuery(user), ctx);
  // The request: the page, at most one budget of worker invokes, and one continuation scheduled.
  expect(r.page.statusCode).toBe(200);
  expect(r.reason).toBe('signed_in');
  expect(r.page.body).toContain(`Your ${ids.length} waiting messages are being answered`);
  expect(workerRecords(user)).toHaveLength(RESUME_BUDGET.messages);
  expect(continuations(user)).toHaveLength(1);
  expect((await ctx.conversations.listPendingMessages(userKey(user))).length).toBe(ids.length - RESUME_BUDGET.messages);
  // The token is stored as it is (not marked for resume): the continuation goes on with it.
  expect(Number((await rawTokenItem(env, user))?.exp?.N)).toBeGreaterThan(Math.floor(Date.now() / 1000) + 600);

  open();
  await env.worker.idle();
  expectAnsweredOnce(user, ids);
  expect(firstHandOvers(user)).toEqual(ids);
  expect(await ctx.conversations.listPendingMessages(userKey(user))).toEqual([]);
  expect(continuations(user).length).toBe(Math.ceil(ids.length / RESUME_BUDGET.messages) - 1);
});

test('a continuation delivered twice (asynchronous invoke is at-least-once): every message answered once', async () => {
  const user = await newTestUser(env, 'Twice');
  const ids = await keep(user, 23);
  let open!: () => void;
  gate = new Promise((resolve) => (open = resolve));
  expect((await handleCallback(await signInQuery(user), ctx)).reason).toBe('signed_in');
  const event = continuations(user)[0].payload as Record<string, unknown>;
  expect(isResumeContinuation(event)).toBe(true);
  open();
  await Promise.all([receiver(event as never), receiver(event as never)]);
  await env.worker.idle();
  expectAnsweredOnce(user, ids);
  expect(await ctx.conversations.listPendingMessages(userKey(user))).toEqual([]);
});

test('the continuation cannot be scheduled: the token is marked, and the next message resumes the rest before itself', async () => {
  const user = await newTestUser(env, 'NoSelf');
  const ids = await keep(user, 14);
  gate = Promise.resolve();
  // The sign-in's own hand-over succeeds; then the Invoke API fails for the continuation (every SDK attempt).
  env.worker.failNext(500, 2, RESUME_BUDGET.messages);
  const r = await handleCallback(await signInQuery(user), ctx);
  expect(r.page.statusCode).toBe(200);
  expect(r.reason).toBe('signed_in_partial_resume');
  expect(r.page.body).toContain('when you send your next message');
  expect(Number((await rawTokenItem(env, user))?.exp?.N)).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 1);
  await env.worker.idle();
  expect(firstHandOvers(user)).toEqual(ids.slice(0, RESUME_BUDGET.messages));

  const next = teamsMessage(env, user, 'the next message');
  expect((await receiver(await messageEvent(env, next))).statusCode).toBe(200);
  await env.worker.idle();
  expectAnsweredOnce(user, [...ids, next.id as string]);
  expect(firstHandOvers(user)).toEqual([...ids, next.id as string]);
  expect(await ctx.conversations.listPendingMessages(userKey(user))).toEqual([]);
});

test('the refresh path with more leftovers than one budget: the new message waits behind them, all answered in order', async () => {
  const user = await newTestUser(env, 'Refresh');
  gate = Promise.resolve();
  expect((await handleCallback(await signInQuery(user), ctx)).reason).toBe('signed_in');
  const ids = await keep(user, 17); // leftovers of an earlier failure
  expect(await ctx.tokens.expireAccessToken((await ctx.tokens.get(userKey(user)))!)).toBe(true);
  const next = teamsMessage(env, user, 'after the leftovers');
  expect((await receiver(await messageEvent(env, next))).statusCode).toBe(200);
  await env.worker.idle();
  expectAnsweredOnce(user, [...ids, next.id as string]);
  expect(firstHandOvers(user)).toEqual([...ids, next.id as string]);
  expect(continuations(user).length).toBeGreaterThanOrEqual(1);
  expect(await ctx.conversations.listPendingMessages(userKey(user))).toEqual([]);
});

test('no function URL request is taken for a continuation; a continuation for a user without tokens does nothing', async () => {
  const user = await newTestUser(env, 'Shape');
  const ids = await keep(user, 2);
  const forged = { ...(await messageEvent(env, teamsMessage(env, user, 'x'))), type: RESUME_EVENT_TYPE, user: userKey(user), hop: 1 };
  expect(isResumeContinuation(forged)).toBe(false);
  expect(isResumeContinuation({ type: RESUME_EVENT_TYPE, version: '1', user: userKey(user), hop: 1 })).toBe(true);
  const before = env.worker.records.length;
  // Not signed in: nothing is handed over, the messages keep waiting for the sign-in.
  expect((await receiver({ type: RESUME_EVENT_TYPE, version: '1', user: userKey(user), hop: 1 } as never)).statusCode).toBe(200);
  expect((await receiver({ type: RESUME_EVENT_TYPE, version: '1', user: { tenantId: 'x#y', aadObjectId: '' }, hop: 1 } as never)).statusCode).toBe(200);
  expect(env.worker.records.length).toBe(before);
  expect((await ctx.conversations.listPendingMessages(userKey(user))).map((m) => m.event.message.id)).toEqual(ids);
});
