/**
 * The test kit (testing/, `cdk-teams-delegated-auth-bot/testing`) from its sources: workers written with the worker
 * kit run against createTestBot's stand-ins, with contract events for test users, and everything they do is what
 * the kit does against AWS (KMS decrypt under the user's encryption context, idempotency records, the bot's app token,
 * Graph as the user, Bot Connector replies).
 */
import { defineWorker, type GraphError, type WorkerArgs } from '../../kit';
import { parseWorkerEvent } from '../../lambda/shared/contract';
import { createTestBot, type Fixtures, type TestBot } from '../../testing';

let bot: TestBot;

beforeAll(async () => {
  bot = await createTestBot();
});

afterAll(async () => {
  await bot.close();
});

test('a worker answers a test user with their Graph profile; the reply is recorded in the thread of the message', async () => {
  const handler = defineWorker(async ({ graph, reply, text, user }) => {
    const me = await graph.me();
    await reply(`Hello ${me.displayName} (${user.aadObjectId}), you said "${text}"`);
  }, bot.workerOptions);
  const turn = await bot.send(handler, { from: 'ada', text: 'hello' });
  const ada = bot.users.find((u) => u.handle === 'ada')!;
  expect(turn.result).toEqual({ status: 'replied' });
  expect(turn.replies.map((r) => r.text)).toEqual([`Hello Ada Lovelace (${ada.oid}), you said "hello"`]);
  expect(turn.replies[0].replyToId).toBe(turn.event.message.id);
  expect(turn.activities).toEqual([expect.objectContaining({ kind: 'activity', replyToId: turn.event.message.id })]);
  expect(bot.replies('ada').map((r) => r.text)).toContain(turn.replies[0].text);
});

test('the event is a valid contract event of the user, its token encrypted under their encryption context', async () => {
  const event = await bot.event({ from: 'grace', text: 'status?' });
  const grace = bot.users.find((u) => u.handle === 'grace')!;
  expect(parseWorkerEvent(JSON.parse(JSON.stringify(event)))).toEqual(event);
  expect(event.conversation.user).toEqual({ id: grace.teamsId, aadObjectId: grace.oid, name: 'Grace Hopper' });
  expect(event.conversation.conversation.tenantId).toBe(bot.tenantId);
  expect(event.message.text).toBe('status?');
  expect(event.token.encryptionContext).toEqual({ appId: bot.appId, tenantId: bot.tenantId, aadObjectId: grace.oid, purpose: 'access_token' });
  expect(event.token.keyId).toBe(bot.workerOptions.env.TDAB_KMS_KEY_ARN);
  // Ciphertext only: no JWT (the user's Graph token) anywhere in the event.
  expect(JSON.stringify(event)).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);
  expect(Date.parse(event.token.expiresAt) - Date.now()).toBeGreaterThan(3500_000);
  expect(event.token.scopes).toBe('User.Read Mail.Read Calendars.Read Files.Read');
});

test('a duplicate delivery of an answered message is skipped: the user gets one reply', async () => {
  let runs = 0;
  const handler = defineWorker(async ({ reply }) => {
    runs++;
    await reply('once');
  }, bot.workerOptions);
  const first = await bot.send(handler, { from: 'alan', text: 'ping' });
  const again = await bot.deliver(handler, first.event);
  expect(first.result.status).toBe('replied');
  expect(again.result).toEqual({ status: 'skipped', reason: 'already-replied' });
  expect(again.activities).toEqual([]);
  expect(runs).toBe(1);
});

test('a worker that fails before replying rejects (Lambda would retry) and the user gets the apology once', async () => {
  class BackendDown extends Error {
    override name = 'BackendDown';
  }
  const handler = defineWorker(async () => {
    throw new BackendDown('backend down');
  }, { ...bot.workerOptions, apology: 'Sorry, try again.' });
  const conversation = await bot.groupChat(['ada', 'grace'], 'Failures');
  await expect(bot.send(handler, { from: 'grace', text: 'break', conversation })).rejects.toMatchObject({ name: 'WorkerError', causeName: 'BackendDown' });
  expect(bot.replies(conversation).map((r) => r.text)).toEqual(['Sorry, try again.']);
});

test('typing, send and update are recorded as Bot Connector calls of the turn', async () => {
  const handler = defineWorker(async ({ typing, send, update }) => {
    await typing();
    const progress = await send('Working…');
    await update(progress.id!, 'Done.');
  }, bot.workerOptions);
  const turn = await bot.send(handler, { from: 'ada', text: 'work' });
  expect(turn.activities.map((a) => [a.kind, a.activity.type, a.activity.text])).toEqual([
    ['activity', 'typing', undefined],
    ['activity', 'message', 'Working…'],
    ['update', 'message', 'Done.'],
  ]);
  expect(turn.replies.map((r) => r.text)).toEqual(['Working…']);
});

test('group chats: the message @mentions the bot, the worker sees the plain text and the conversation', async () => {
  const conversation = await bot.groupChat(['grace', 'alan']);
  const seen: Array<Pick<WorkerArgs, 'text' | 'conversation'>> = [];
  const handler = defineWorker(async ({ text, conversation: c, reply }) => {
    seen.push({ text, conversation: c });
    await reply('noted');
  }, bot.workerOptions);
  const turn = await bot.send(handler, { from: 'alan', text: 'minutes please', conversation });
  expect(turn.event.message.text).toBe('<at>Test Bot</at> minutes please');
  expect(seen[0].text).toBe('minutes please');
  expect(seen[0].conversation.conversation).toEqual(expect.objectContaining({ id: conversation, isGroup: true, conversationType: 'groupChat' }));
  expect(bot.replies(conversation).map((r) => r.text)).toEqual(['noted']);
  expect(bot.replies('alan').map((r) => r.text)).not.toContain('noted');
});

test('token expiry and scopes reach the worker; Graph refuses an expired token and a missing scope like Graph', async () => {
  const outcomes: string[] = [];
  const handler = defineWorker(async ({ graph, token, reply }) => {
    try {
      await graph.get('/v1.0/me/messages');
      outcomes.push(`ok expired=${token.expired}`);
    } catch (err) {
      outcomes.push(`${(err as GraphError).status} ${(err as GraphError).code} expired=${token.expired}`);
    }
    await reply('checked');
  }, bot.workerOptions);
  await bot.send(handler, { from: 'ada', text: 'mail' });
  await bot.send(handler, { from: 'ada', text: 'mail', tokenExpiresIn: -60 });
  await bot.send(handler, { from: 'ada', text: 'mail', scopes: 'User.Read' });
  expect(outcomes).toEqual([
    'ok expired=false',
    '401 InvalidAuthenticationToken expired=true',
    '403 ErrorAccessDenied expired=false',
  ]);
});

test('card submits, attachments metadata and resumed messages are in the event', async () => {
  const event = await bot.event({
    from: 'ada',
    value: { action: 'approve' },
    attachments: [{ contentType: 'image/png', name: 'a.png', contentUrl: 'https://example.invalid/a.png', content: 'not passed on' }],
    resumed: true,
  });
  expect(event.resumed).toBe(true);
  expect(event.message.value).toEqual({ action: 'approve' });
  expect(event.message.attachments).toEqual([{ contentType: 'image/png', name: 'a.png', contentUrl: 'https://example.invalid/a.png' }]);
});

test('an unknown user is refused with the known handles', async () => {
  await expect(bot.event({ from: 'mallory', text: 'hi' })).rejects.toThrow(/unknown user "mallory" \(known: ada, grace, alan\)/);
});

describe('own fixtures', () => {
  const fixtures: Fixtures = {
    tenantId: '3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f',
    users: [{
      handle: 'kim',
      id: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
      displayName: 'Kim Example',
      userPrincipalName: 'kim@fabrikam.example',
      events: [{ id: 'e1', subject: 'Budget review', start: { dateTime: '2026-12-07T09:00:00', timeZone: 'UTC' } }],
    }],
  };
  let own: TestBot;
  beforeAll(async () => {
    own = await createTestBot({ fixtures, scopes: 'User.Read Calendars.Read', appId: 'A1B2C3D4-0000-4000-8000-000000000001' });
  });
  afterAll(async () => {
    await own.close();
  });

  test('the worker reads the fixture user\'s calendar as that user, in that tenant', async () => {
    const handler = defineWorker(async ({ graph, reply }) => {
      const events = await graph.get<{ value: Array<{ subject: string }> }>('/v1.0/me/events');
      await reply(events.value.map((e) => e.subject).join(', '));
    }, own.workerOptions);
    const turn = await own.send(handler, { from: 'kim', text: 'my day' });
    expect(turn.replies.map((r) => r.text)).toEqual(['Budget review']);
    expect(own.tenantId).toBe(fixtures.tenantId);
    expect(own.appId).toBe('a1b2c3d4-0000-4000-8000-000000000001');
    expect(turn.event.token.encryptionContext.tenantId).toBe(fixtures.tenantId);
  });

  test('invalid fixtures are refused with the playground\'s message', async () => {
    await expect(createTestBot({ fixtures: { tenantId: 'nope', users: [] } })).rejects.toThrow('fixtures.tenantId must be a GUID');
  });
});

test('a worker that reads process.env runs against bot.env; every endpoint it is given is on 127.0.0.1', async () => {
  const saved = { ...process.env };
  try {
    Object.assign(process.env, bot.env);
    const handler = defineWorker(async ({ graph, reply }) => {
      await reply(`Hi ${(await graph.me()).displayName}`);
    });
    const turn = await bot.send(handler, { from: 'grace', text: 'hi' });
    expect(turn.replies.map((r) => r.text)).toEqual(['Hi Grace Hopper']);
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
  const urls = Object.entries(bot.env).filter(([, v]) => /^https?:\/\//.test(v));
  expect(urls.map(([k]) => k).sort()).toEqual([
    'AWS_ENDPOINT_URL_DYNAMODB', 'AWS_ENDPOINT_URL_KMS', 'AWS_ENDPOINT_URL_SECRETS_MANAGER',
    'TDAB_ENTRA_AUTHORITY', 'TDAB_GRAPH_BASE_URL', 'TDAB_SERVICE_URL_HOSTS',
  ]);
  for (const [, v] of urls) expect(new URL(v).hostname).toBe('127.0.0.1');
});
