/**
 * The playground's scripted API (docs/playground.md, "Scripted API") and `teams-bot-playground test`, against the
 * shipped bin in its own process (real receiver and default worker bundles).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runPlaygroundBin, signInUrlOf, startPlaygroundProcess, waitFor, type RunningPlayground } from './support';

jest.setTimeout(120_000);

async function botTexts(pg: RunningPlayground, id: string): Promise<string[]> {
  const { body } = await pg.api(`conversations/${encodeURIComponent(id)}/activities?after=0`);
  return body.entries.filter((e: any) => e.from === 'bot' && e.activity.type === 'message').map((e: any) => String(e.activity.text ?? ''));
}

describe('scripted API', () => {
  let pg: RunningPlayground;
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'playground-api-'));
    pg = await startPlaygroundProcess(['--data', dir]);
  });
  afterAll(async () => {
    await pg?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('conversation, message → card, sign-in, reply, long poll, invoke, bad input', async () => {
    const users = (await pg.api('users')).body.users;
    expect(users.map((u: any) => u.handle)).toEqual(['ada', 'grace', 'alan']);
    expect(users[0].teamsId).toMatch(/^29:1/);

    const conv = await pg.api('conversations', { method: 'POST', body: { user: 'grace' } });
    expect(conv.status).toBe(201);
    expect(conv.body).toMatchObject({ type: 'personal', members: ['grace'] });
    expect(conv.body.id).toMatch(/^a:1/);
    const id = encodeURIComponent(conv.body.id);

    const sent = await pg.api(`conversations/${id}/messages`, { method: 'POST', body: { user: 'grace', text: 'hello' } });
    expect(sent.body.receiver).toMatchObject({ status: 200, outcome: 'pending_prompted' });
    expect(sent.body.activity).toMatchObject({ channelId: 'msteams', conversation: { tenantId: expect.any(String) }, from: { aadObjectId: users[1].oid } });
    const after = sent.body.seq;
    const polled = await pg.api(`conversations/${id}/activities?after=${after}&wait=10000`);
    const url = await waitFor('the sign-in card', async () => signInUrlOf((await pg.api(`conversations/${id}/activities?after=${after}`)).body.entries));
    expect(polled.status).toBe(200);

    // Only the local IdP's authorize URL is accepted; the right user signs in.
    expect((await pg.api('signin', { method: 'POST', body: { user: 'grace', url: 'http://example.com/x' } })).status).toBe(400);
    const wrong = await pg.api('signin', { method: 'POST', body: { user: 'ada', url } });
    expect(wrong.body.status).toBe(403); // "Wrong account": Ada cannot sign in with Grace's card
    const next = await pg.api(`conversations/${id}/messages`, { method: 'POST', body: { user: 'grace', text: 'still there?' } });
    expect(next.body.receiver.status).toBe(200);
    const url2 = await waitFor('a new card', async () => {
      const u = signInUrlOf((await pg.api(`conversations/${id}/activities?after=${next.body.seq}`)).body.entries);
      return u !== url ? u : undefined;
    });
    const ok = await pg.api('signin', { method: 'POST', body: { user: 'grace', url: url2 } });
    expect(ok.body.status).toBe(200);
    await waitFor('both pending messages answered with Grace\'s name', async () => {
      const texts = await botTexts(pg, conv.body.id);
      return texts.filter((t) => t.includes('Hi Grace Hopper!')).length === 2 || undefined;
    });

    // Fixtures: an edited display name is what Graph returns next.
    expect((await pg.api('fixtures', { method: 'PUT', body: { users: [] } })).status).toBe(400);
    const fixtures = (await pg.api('fixtures')).body;
    fixtures.users[1].displayName = 'Amazing Grace';
    expect((await pg.api('fixtures', { method: 'PUT', body: fixtures })).status).toBe(200);
    const hot = await pg.api(`conversations/${id}/messages`, { method: 'POST', body: { user: 'grace', text: 'who am I?' } });
    expect(hot.body.receiver.outcome).toBe('hot_path');
    await waitFor('the reply with the edited name', async () => (await botTexts(pg, conv.body.id)).some((t) => t.includes('Hi Amazing Grace!')) || undefined);

    // An invoke the bot does not handle: the receiver's InvokeResponse is recorded.
    const invoke = await pg.api(`conversations/${id}/invoke`, { method: 'POST', body: { user: 'grace', name: 'adaptiveCard/action', value: { action: { type: 'Action.Execute', verb: 'x' } } } });
    expect(invoke.body.receiver.status).toBe(501);

    // Bad input: unknown user, conversation, route, body.
    expect((await pg.api('conversations', { method: 'POST', body: { user: 'nobody' } })).status).toBe(400);
    expect((await pg.api('conversations/nope/messages', { method: 'POST', body: { user: 'ada', text: 'x' } })).status).toBe(404);
    expect((await pg.api(`conversations/${id}/messages`, { method: 'POST', body: { user: 'ada', text: 'x' } })).status).toBe(400);
    expect((await pg.api('nothing-here')).status).toBe(404);
    const res = await fetch(`${pg.url}playground/api/conversations`, { method: 'POST', body: '{not json' });
    expect(res.status).toBe(400);
    const logs = (await pg.api('logs')).body.lines;
    expect(logs.some((l: any) => l.event === 'request' && l.outcome === 'hot_path')).toBe(true);
    expect(JSON.stringify(logs)).not.toContain('who am I?');
  });

  test('a group chat: messages @mention the bot, the card is visible to the group', async () => {
    const group = await pg.api('conversations', { method: 'POST', body: { type: 'groupChat', members: ['ada', 'alan'] } });
    expect(group.body.id).toMatch(/^19:[0-9a-f]+@thread\.v2$/);
    const sent = await pg.api(`conversations/${encodeURIComponent(group.body.id)}/messages`, { method: 'POST', body: { user: 'alan', text: 'hi all' } });
    expect(sent.body.activity.text).toBe('<at>Playground Bot</at> hi all');
    expect(sent.body.activity.conversation).toMatchObject({ conversationType: 'groupChat', isGroup: true });
    expect(sent.body.receiver.status).toBe(200);
    await waitFor('the card in the group', async () => signInUrlOf((await pg.api(`conversations/${encodeURIComponent(group.body.id)}/activities?after=0`)).body.entries));
  });

  test('--data keeps the signed-in user across a restart: the next message takes the hot path', async () => {
    const conv = (await pg.api('conversations', { method: 'POST', body: { user: 'grace' } })).body;
    await pg.stop();
    expect(fs.statSync(path.join(dir, 'state.json')).mode % 0o100).toBe(0); // no group or other permission bits
    pg = await startPlaygroundProcess(['--data', dir]);
    const again = await pg.api('conversations', { method: 'POST', body: { user: 'grace' } });
    expect(again.body.id).toBe(conv.id);
    expect(again.body.entries).toBeGreaterThan(5); // the transcript came back
    const sent = await pg.api(`conversations/${encodeURIComponent(conv.id)}/messages`, { method: 'POST', body: { user: 'grace', text: 'after restart' } });
    expect(sent.body.receiver.outcome).toBe('hot_path');
    await waitFor('the reply after the restart', async () => (await botTexts(pg, conv.id)).some((t) => t.includes('after restart')) || undefined);
  });
});

describe('--sso: Teams SSO simulated', () => {
  let pg: RunningPlayground;
  beforeAll(async () => {
    pg = await startPlaygroundProcess(['--sso']);
  });
  afterAll(async () => {
    await pg?.stop();
  });

  test('the OAuthCard\'s token exchange signs the user in silently and the message is answered', async () => {
    const conv = (await pg.api('conversations', { method: 'POST', body: { user: 'ada' } })).body;
    await pg.api(`conversations/${encodeURIComponent(conv.id)}/messages`, { method: 'POST', body: { user: 'ada', text: 'sso please' } });
    const entries = await waitFor('the answer after the silent exchange', async () => {
      const all = (await pg.api(`conversations/${encodeURIComponent(conv.id)}/activities?after=0`)).body.entries;
      return all.some((e: any) => e.from === 'bot' && String(e.activity.text ?? '').includes('Hi Ada Lovelace!')) ? all : undefined;
    });
    const invoke = entries.find((e: any) => e.activity.type === 'invoke');
    expect(invoke.activity.name).toBe('signin/tokenExchange');
    expect(invoke.receiver.status).toBe(200);
  });
});

describe('teams-bot-playground test', () => {
  const run = (args: string[]) => runPlaygroundBin(args);
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'playground-script-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a passing script exits 0, a failing one 1 naming the step, bad arguments 2', async () => {
    const good = path.join(dir, 'good.json');
    fs.writeFileSync(good, JSON.stringify({ user: 'alan', steps: [{ send: 'hello' }, { expect: { signInCard: true } }, { signIn: 'alan' }, { expect: { text: 'Alan Turing' } }] }));
    const ok = await run(['test', good]);
    expect(ok.out).toContain('passed');
    expect(ok.code).toBe(0);

    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ steps: [{ send: 'hello' }, { expect: { text: 'no such reply', timeoutMs: 1500 } }] }));
    const failed = await run(['test', bad]);
    expect(failed.code).toBe(1);
    expect(failed.out).toContain('FAIL step 2');

    expect((await run(['test'])).code).toBe(2);
    expect((await run(['--port', 'x'])).code).toBe(2);
    const invalid = path.join(dir, 'invalid.json');
    fs.writeFileSync(invalid, JSON.stringify({ steps: [{ send: 'a', expect: {} }] }));
    const inv = await run(['test', invalid]);
    expect(inv.code).toBe(2);
    expect(inv.out).toContain('exactly one of');
  });
});
