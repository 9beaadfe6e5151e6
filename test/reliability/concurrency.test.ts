/**
 * Concurrency (issue 6, item 8; issue 11, point 12): 50 users × 20 messages sent at once before anyone signed in (plus
 * one Teams redelivery per user), then all 50 sign in at once (10 of them "double-click": the callback arrives twice
 * at the same time), then every user sends one more message. Every one of the 1050 messages is **answered exactly
 * once**, counted where Teams would see it: the replies at the Bot Connector stand-in, per activity id (the worker
 * stand-in answers through the worker kit's idempotency record, lambda/shared/idempotency.ts, like a real worker);
 * each user got exactly one sign-in card; nothing is left pending. 20 messages are more than one request's resume
 * budget (10): the rest of each sign-in's resume is handed over by resume continuations (the receiver invoking itself
 * through the Lambda stand-in).
 *
 * What does not hold, so is not asserted: "invoked exactly once", and "everything handed over by the sign-in". Lambda's
 * asynchronous invoke is at-least-once and the SDK retries an Invoke that timed out (3 s) although it may have been
 * accepted: on a loaded CI machine a message was handed over twice. And when a resume invoke fails (a timeout on a
 * saturated machine) the leftovers wait, by design, for the user's next message (one run saw 943 of 1000 handed over
 * after the sign-ins): the follow-up message each user sends resumes them. A sign-in answered 5xx (a dependency timed
 * out) is retried the way the user would: the same card link again, no new message. Requests run 16 at a time: each Lambda
 * container serves one request at a time, and with 100 in one event loop on two busy cores the 10 s Bot Connector
 * and 5 s IdP timeouts expired in the queue (cards posted with an unknown outcome, callbacks answered 503/504), which
 * measured the test's own event loop, not the receiver's behaviour.
 */
import { captureLogs, scanLogLines, type LogCapture } from './support/log-scan';
import { applyEnv, loadReceiver, type ReceiverHandler } from './support/receiver';
import {
  callbackEvent,
  findOpenUrl,
  lastSignInUrl,
  messageActivity,
  messageEvent,
  startWorld,
  type World,
} from './support/world';
import { idempotencyKey } from '../../lambda/shared/idempotency';
import { setLogSink } from '../../lambda/shared/log';
import { answerKey, answersByActivity, replyingWorker, routeInvocations } from '../support/replying-worker';

jest.setTimeout(600_000);

const USERS = 50;
const MESSAGES = 20;

let world: World;
let handler: ReceiverHandler;
let restoreEnv: () => void;
let logs: LogCapture;
const secrets = new Set<string>();
/** Requests in flight at once (see the file comment). */
const IN_FLIGHT = 16;
/** The receiver's function name in this world (its resume continuations are Invoke calls to it). */
const RECEIVER = 'concurrency-receiver';

beforeAll(async () => {
  world = await startWorld({
    users: USERS,
    receiverFunction: RECEIVER,
    workerHandler: routeInvocations({
      receiverFunction: RECEIVER,
      receiver: () => handler as never,
      worker: replyingWorker({ ddb: () => world.ddb, tableName: () => world.conversationTable }),
    }),
  });
  secrets.add(world.clientSecret);
  restoreEnv = applyEnv(world.env({ viaProxies: false }));
  logs = captureLogs(setLogSink);
  handler = await loadReceiver();
});

/** Counts of the warn/error events the receiver logged (event:reason), printed so a failure under load explains itself. */
function problemSummary(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of logs?.lines ?? []) {
    try {
      const e = JSON.parse(line) as { level?: string; event?: string; reason?: string; status?: number };
      if (e.level !== 'warn' && e.level !== 'error' && !(e.event === 'request' && (e.status ?? 0) >= 500)) continue;
      const k = `${e.event}:${e.reason ?? ''}${e.status ? `:${e.status}` : ''}`;
      out[k] = (out[k] ?? 0) + 1;
    } catch {
      // not a JSON line
    }
  }
  return out;
}

afterAll(async () => {
  const problems = problemSummary();
  logs?.restore();
  // eslint-disable-next-line no-console
  console.log(`receiver problems (event:reason: count): ${JSON.stringify(problems)}`);
  restoreEnv?.();
  await world?.stop();
});

/** Runs `fns` with at most `limit` in flight. */
async function pool<T>(fns: Array<() => Promise<T>>, limit: number): Promise<T[]> {
  const out: T[] = new Array(fns.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, fns.length) }, async () => {
    while (next < fns.length) {
      const i = next++;
      out[i] = await fns[i]();
    }
  }));
  return out;
}

/**
 * Delivers an activity the way Teams does: a 5xx (the receiver answers 503 when DynamoDB or another dependency is
 * unavailable, e.g. a timeout on a saturated machine) is redelivered, same activity, a little later.
 */
async function deliver(ev: Record<string, unknown>): Promise<number> {
  let status = 0;
  for (let attempt = 0; attempt < 6; attempt++) {
    status = (await handler(ev)).statusCode;
    if (status < 500) return status;
    redeliveredAfter5xx += 1;
    await new Promise((r) => setTimeout(r, 500 + Math.random() * 1000));
  }
  return status;
}
let redeliveredAfter5xx = 0;

/**
 * What happened to messages not answered exactly once (printed when the guarantee fails, so a run under load explains
 * itself): how often the worker was invoked and ran for each, its idempotency record, whether it is still pending, and
 * the on-failure destination records.
 */
async function explain(keys: string[]): Promise<unknown> {
  const items = [...await world.scan(world.conversationTable)];
  const out = keys.map((k) => {
    const [conversationId, activityId] = [k.slice(0, k.lastIndexOf(' ')), k.slice(k.lastIndexOf(' ') + 1)];
    const ikey = idempotencyKey(conversationId, activityId);
    const invoked = world.lambda.records.filter((r) => {
      const ev = r.payload as { conversation?: { conversation?: { id?: string } }; message?: { id?: string } };
      return ev?.message?.id === activityId && ev.conversation?.conversation?.id === conversationId;
    });
    const runs = world.lambda.attempts.filter((a) => invoked.some((r) => r.requestId === a.requestId));
    const record = items.find((i) => i.pk?.S === ikey);
    const pending = items.some((i) => i.pk?.S?.startsWith('pending#') && i.sk?.S?.startsWith('msg#') && i.sk.S.includes(encodeURIComponent(activityId)));
    return { activityId, invoked: invoked.length, runs: runs.map((a) => (a.ok ? 'ok' : `failed:${a.error}`)), record: record?.state?.S, pending };
  });
  return { messages: out, failureRecords: world.lambda.failures.length };
}

test('1000 messages before sign-in, 50 concurrent sign-ins, a follow-up each: every message answered exactly once, one card per user', async () => {
  const jwt = await world.botFramework.sign({ aud: world.appId, serviceurl: world.connector.serviceUrl });
  secrets.add(jwt);
  const sent = new Map<string, string[]>(); // user oid → activity ids
  const requests: Array<() => Promise<number>> = [];
  const redeliveries: Array<() => Promise<number>> = [];
  for (const u of world.users) {
    const ids: string[] = [];
    for (let m = 0; m < MESSAGES; m++) {
      const text = `concurrent secret message ${m} of ${u.login} ${Math.random().toString(36).slice(2)}`;
      secrets.add(text);
      const a = messageActivity(world, u, text, { id: `1${String(Date.now()).slice(-8)}${String(m).padStart(3, '0')}${ids.length}` });
      ids.push(a.id as string);
      const ev = messageEvent(a, jwt);
      requests.push(() => deliver(ev));
      if (m === 7) redeliveries.push(() => deliver(ev)); // Teams resends one message per user
    }
    sent.set(u.oid, ids);
  }
  // Shuffle so users' messages interleave, then fire everything (100 in flight at a time: more only measures how slow two shared cores get).
  const all = [...requests, ...redeliveries].sort(() => Math.random() - 0.5);
  const statuses = await pool(all, IN_FLIGHT);
  expect(statuses.filter((s) => s !== 200)).toEqual([]);

  // One card per user, nothing handed to the worker yet, 1000 pending messages.
  const cards = new Map<string, string>();
  for (const a of world.connector.activities) {
    const url = findOpenUrl(a.activity);
    if (!url) continue;
    expect(cards.has(a.conversationId)).toBe(false);
    cards.set(a.conversationId, url);
  }
  expect(cards.size).toBe(USERS);
  expect(world.lambda.records.length).toBe(0);
  const pendingItems = (await world.scan(world.conversationTable)).filter((i) => i.pk?.S?.startsWith('pending#') && i.sk?.S?.startsWith('msg#'));
  expect(pendingItems.length).toBe(USERS * MESSAGES);

  // Everyone signs in at the IdP at once; then all callbacks arrive at once, ten of them twice. A user whose sign-in
  // answered 5xx (a dependency timed out on the saturated machine) presses the same card link again: no new message.
  const signIn = async (u: (typeof world.users)[number]) => {
    const r = await world.idp.signIn(cards.get(u.conversationId)!, u.login);
    secrets.add(r.searchParams.get('code') ?? '');
    return r;
  };
  const redirects = await pool(world.users.map((u) => () => signIn(u)), 4); // the IdP is one more process on the two cores
  let retriedSignIns = 0;
  const callbacks = world.users.map((u, i) => async () => {
    const got = await Promise.all((i < 10 ? [0, 1] : [0]).map(async () => (await handler(callbackEvent(redirects[i]))).statusCode));
    for (let again = 0; again < 3 && !got.includes(200) && got.some((st) => st >= 500); again++) {
      retriedSignIns++;
      got.push((await handler(callbackEvent(await signIn(u)))).statusCode);
    }
    return got;
  });
  const cbStatuses = (await pool(callbacks.sort(() => Math.random() - 0.5), IN_FLIGHT)).flat();
  // One sign-in per user succeeded; a double click's second callback is refused (state used, or the code redeemed).
  expect(cbStatuses.filter((st) => st === 200).length).toBe(USERS);
  expect(cbStatuses.filter((st) => st !== 200 && st < 500)).toEqual(Array(10).fill(400));
  await world.lambda.idle();
  const afterSignIn = answersByActivity(world.connector).size;

  // Every user sends one more message: leftovers of a failed resume hand-over (if any) are resumed before it.
  const followUps = new Map<string, string>();
  await pool(world.users.map((u) => async () => {
    const text = `follow-up of ${u.login} ${Math.random().toString(36).slice(2)}`;
    secrets.add(text);
    const a = messageActivity(world, u, text, { id: `2${String(Date.now()).slice(-8)}${u.oid.slice(0, 8)}` });
    followUps.set(u.oid, a.id as string);
    return deliver(messageEvent(a, jwt));
  }), IN_FLIGHT);
  await world.lambda.idle();

  // A double click redeemed one authorization code twice: the IdP stand-in (oidc-provider, RFC 6749 4.1.2) then revokes
  // the tokens issued from it, so when that user's follow-up needs a refresh (leftovers flagged after a failed resume
  // hand-over), Entra refuses it: the tokens are deleted and the user gets a new card, as a real user would. They sign
  // in again, and that sign-in resumes everything still waiting.
  const cardsPer = (conversationId: string) =>
    world.connector.activities.filter((a) => a.conversationId === conversationId && findOpenUrl(a.activity)).length;
  const signedInAgain = world.users.filter((u) => cardsPer(u.conversationId) > 1);
  expect(signedInAgain.filter((u) => world.users.indexOf(u) >= 10)).toEqual([]); // only double-click users
  for (const u of signedInAgain) {
    const r = await world.idp.signIn(lastSignInUrl(world.connector, u.conversationId)!, u.login);
    secrets.add(r.searchParams.get('code') ?? '');
    expect((await handler(callbackEvent(r))).statusCode).toBe(200);
  }
  await world.lambda.idle();

  // The guarantee: every message answered exactly once at the Bot Connector stand-in, the follow-ups included.
  const answers = answersByActivity(world.connector);
  const conversationOf = new Map(world.users.map((u) => [u.oid, u.conversationId]));
  const expected = [...sent].flatMap(([oid, ids]) => [...ids, followUps.get(oid)!].map((id) => answerKey(conversationOf.get(oid)!, id)));
  const notOnce = expected.filter((k) => answers.get(k) !== 1).map((k) => `${k}:${answers.get(k) ?? 0}`);
  if (notOnce.length > 0) {
    // eslint-disable-next-line no-console
    console.log(`not answered once: ${JSON.stringify(await explain(expected.filter((k) => answers.get(k) !== 1)))}`);
  }
  expect(notOnce).toEqual([]);
  expect(answers.size).toBe(expected.length);

  // Measured, not asserted (at-least-once; leftovers wait for the follow-up by design): printed so a run explains itself.
  const workerRecords = world.lambda.records.filter((r) => r.functionName !== RECEIVER);
  const invoked = new Map<string, number>();
  for (const rec of workerRecords) {
    const ev = rec.payload as { conversation: { conversation: { id: string } }; message: { id: string } };
    const key = idempotencyKey(ev.conversation.conversation.id, ev.message.id);
    invoked.set(key, (invoked.get(key) ?? 0) + 1);
  }
  const twice = [...invoked.values()].filter((n) => n > 1).length;
  const continuations = world.lambda.records.length - workerRecords.length;
  // eslint-disable-next-line no-console
  console.log(`answered after the sign-ins: ${afterSignIn} of ${USERS * MESSAGES}; resume continuations: ${continuations}; `
    + `handed over more than once: ${twice}; sign-ins retried after a 5xx: ${retriedSignIns}; signed in again after a revoked double click: ${signedInAgain.length}; redelivered after a 5xx: ${redeliveredAfter5xx}`);

  // Nothing left pending; one token item per user; no second card after sign-in.
  const after = await world.scan(world.conversationTable);
  // (the user's partition keeps only the used sign-in states' markers, until the states expire)
  expect(after.filter((i) => i.pk?.S?.startsWith('pending#') && !i.sk?.S?.startsWith('state#'))).toEqual([]);
  expect(after.filter((i) => i.sk?.S?.startsWith('state#')).length).toBe(USERS + signedInAgain.length);
  expect((await world.scan(world.tokenTable)).length).toBe(USERS);
  const cardsAfter = world.connector.activities.filter((a) => findOpenUrl(a.activity)).length;
  expect(cardsAfter).toBe(USERS + signedInAgain.length);

  expect(scanLogLines(logs.lines, { secrets })).toEqual([]);
});
