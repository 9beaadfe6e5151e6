/**
 * The playground's `--assistant` (docs/playground.md): the shipped bin runs the real receiver and the real assistant
 * bundle, whose own Bedrock Runtime client talks to the local stand-in (h2c, event-stream frames) playing the scripted
 * model, and whose Graph tools read the fixtures as the signed-in user. Through the scripted API: message → sign-in
 * (with the tools' scopes) → streamed answer → one final message with the user's fixture data from a tool call.
 * Also the stand-in's refusal of a conversation Bedrock would refuse, and the options that make no sense together.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import { runPlaygroundBin, signInUrlOf, startPlaygroundProcess, waitFor, type RunningPlayground } from './support';
import { startBedrockStandIn } from '../../cli/playground/aws/bedrock';

jest.setTimeout(120_000);

const streaminfo = (e: any) => (e.activity.entities ?? []).find((x: any) => x?.type === 'streaminfo');

async function entries(pg: RunningPlayground, id: string, after = 0): Promise<any[]> {
  return (await pg.api(`conversations/${encodeURIComponent(id)}/activities?after=${after}`)).body.entries;
}

/** The bot's entries after `after` once its final message is there (the stream of one answer). */
async function answerAfter(pg: RunningPlayground, id: string, after: number): Promise<{ stream: any[]; final: any }> {
  const all = await waitFor('the final message', async () => {
    const es = (await entries(pg, id, after)).filter((e) => e.from === 'bot');
    return es.some((e) => e.activity.type === 'message') ? es : undefined;
  }, 30_000);
  const finals = all.filter((e) => e.activity.type === 'message');
  expect(finals).toHaveLength(1);
  return { stream: all.filter((e) => e.activity.type === 'typing'), final: finals[0] };
}

/** Waits until `n` worker invocations have returned (the assistant appends to its memory after the final message). */
async function invocationsDone(pg: RunningPlayground, n: number): Promise<void> {
  await waitFor(`${n} finished worker invocations`, async () => (await pg.api('status')).body.invocations.length >= n || undefined);
}

describe('--assistant, local Bedrock (scripted model)', () => {
  let pg: RunningPlayground;
  beforeAll(async () => {
    // Only User.Read asked for: the assistant's tools add Calendars.Read and Mail.Read, as the construct does.
    pg = await startPlaygroundProcess(['--assistant', '--scopes', 'User.Read']);
  });
  afterAll(async () => {
    await pg?.stop();
  });

  test('calendar question → sign-in with the tools\' scopes → calendar tool as Ada → streamed answer → one final message with her events', async () => {
    expect((await pg.api('status')).body.worker).toMatch(/^assistant \(local scripted model/);
    const conv = (await pg.api('conversations', { method: 'POST', body: { user: 'ada' } })).body;
    const sent = await pg.api(`conversations/${encodeURIComponent(conv.id)}/messages`, { method: 'POST', body: { user: 'ada', text: 'what is on my calendar?' } });
    expect(sent.body.receiver).toMatchObject({ status: 200, outcome: 'pending_prompted' });
    const url = await waitFor('the sign-in card', async () => signInUrlOf(await entries(pg, conv.id, sent.body.seq)));
    const scopes = new URL(url).searchParams.get('scope')!.split(' ');
    expect(scopes).toEqual(expect.arrayContaining(['User.Read', 'Calendars.Read', 'Mail.Read'].map((x) => `https://graph.microsoft.com/${x}`)));
    const card = (await entries(pg, conv.id)).length;
    expect((await pg.api('signin', { method: 'POST', body: { user: 'ada', url } })).body.status).toBe(200);

    const { stream, final } = await answerAfter(pg, conv.id, card);
    // Teams' streaming protocol: the informative update of the tool, streamed text, then the final message.
    expect(stream.map((e) => streaminfo(e)?.streamType).filter(Boolean)[0]).toBe('informative');
    expect(stream.find((e) => streaminfo(e)?.streamType === 'informative').activity.text).toBe('Looking at your calendar…');
    const updates = stream.filter((e) => streaminfo(e)?.streamType === 'streaming');
    expect(updates.length).toBeGreaterThanOrEqual(1);
    expect(final.activity.text.startsWith(updates[0].activity.text)).toBe(true);
    expect(streaminfo(final)).toMatchObject({ streamType: 'final', streamId: streaminfo(updates[0]).streamId });
    // Ada's events from the Graph fixtures, read by the calendar tool with her token.
    const events = (await pg.api('fixtures')).body.users[0].events;
    for (const e of events) expect(final.activity.text).toContain(e.subject);
    expect(final.activity.text).toContain('Room 42');
    const texts = final.activity.text;

    // The answer follows the data: another subject in the fixtures is what the next answer says.
    const fixtures = (await pg.api('fixtures')).body;
    fixtures.users[0].events[0].subject = 'Engine trial run';
    expect((await pg.api('fixtures', { method: 'PUT', body: fixtures })).status).toBe(200);
    await invocationsDone(pg, 1);
    const before = (await entries(pg, conv.id)).length;
    const again = await pg.api(`conversations/${encodeURIComponent(conv.id)}/messages`, { method: 'POST', body: { user: 'ada', text: 'any meetings coming up?' } });
    expect(again.body.receiver.outcome).toBe('hot_path');
    const second = await answerAfter(pg, conv.id, before);
    expect(second.final.activity.text).toContain('Engine trial run');
    expect(second.final.activity.text).not.toBe(texts);

    // Profile and mail tools, and a question without a tool that the model answers from the conversation (memory).
    await invocationsDone(pg, 2);
    let n = (await entries(pg, conv.id)).length;
    await pg.api(`conversations/${encodeURIComponent(conv.id)}/messages`, { method: 'POST', body: { user: 'ada', text: 'who am I, and any mail from Charles?' } });
    const both = await answerAfter(pg, conv.id, n);
    expect(both.stream.filter((e) => streaminfo(e)?.streamType === 'informative').map((e) => e.activity.text)).toEqual(['Looking at your profile…', 'Looking at your mail…']);
    expect(both.final.activity.text).toContain('You are **Ada Lovelace**, Analyst');
    expect(both.final.activity.text).toContain('Notes on the Analytical Engine');
    await invocationsDone(pg, 3);
    n = (await entries(pg, conv.id)).length;
    await pg.api(`conversations/${encodeURIComponent(conv.id)}/messages`, { method: 'POST', body: { user: 'ada', text: 'thanks!' } });
    const chat = await answerAfter(pg, conv.id, n);
    expect(chat.final.activity.text).toContain('You said “thanks!”');
    expect(chat.final.activity.text).toContain('I remember 3 earlier questions of yours here; the last was “who am I, and any mail from Charles?”');

    // One answer per message; the handlers' logs carry no message text.
    await invocationsDone(pg, 4);
    const status = (await pg.api('status')).body;
    expect(status.invocations).toHaveLength(4);
    expect(status.invocations.every((i: any) => i.ok && i.attempts === 1)).toBe(true);
    expect(JSON.stringify((await pg.api('logs')).body.lines)).not.toContain('calendar?');
  });
});

describe('the Bedrock stand-in', () => {
  test('refuses a conversation Bedrock would refuse (ValidationException) and serves Converse', async () => {
    const bedrock = await startBedrockStandIn();
    const client = new BedrockRuntimeClient({ endpoint: bedrock.endpoint, region: 'us-east-1', maxAttempts: 1, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    try {
      const ask = (messages: any[]) => client.send(new ConverseCommand({ modelId: 'm', messages }));
      await expect(ask([{ role: 'assistant', content: [{ text: 'hi' }] }])).rejects.toMatchObject({ name: 'ValidationException' });
      await expect(ask([{ role: 'user', content: [{ text: 'a' }] }, { role: 'user', content: [{ text: 'b' }] }])).rejects.toMatchObject({ name: 'ValidationException' });
      await expect(ask([
        { role: 'user', content: [{ text: 'a' }] },
        { role: 'assistant', content: [{ toolUse: { toolUseId: 't1', name: 'calendar', input: {} } }] },
        { role: 'user', content: [{ toolResult: { toolUseId: 't2', content: [{ text: '{}' }] } }] },
      ])).rejects.toMatchObject({ name: 'ValidationException' });
      bedrock.script({ text: 'Fine.' });
      const ok = await ask([{ role: 'user', content: [{ text: 'a' }] }]);
      expect(ok.output?.message?.content).toEqual([{ text: 'Fine.' }]);
    } finally {
      client.destroy();
      await bedrock.stop();
    }
  });
});

describe('the command line', () => {
  const run = (args: string[], env?: NodeJS.ProcessEnv) => runPlaygroundBin(['--port', '0', ...args], { env, timeoutMs: 30_000 });

  test.each([
    [['--assistant', '--worker', 'w.ts'], 'use --assistant or --worker, not both'],
    [['--model', 'anthropic.claude-3-5-haiku-20241022-v1:0'], '--bedrock, --model and --region apply to --assistant'],
    [['--bedrock', 'local'], '--bedrock, --model and --region apply to --assistant'],
    [['--assistant', '--bedrock', 'openai'], '--bedrock must be local or aws'],
    [['--assistant', '--region', 'eu-west-1'], '--region applies to --bedrock aws'],
    [['--assistant', '--bedrock', 'aws'], '--bedrock aws needs --model'],
    [['--assistant', '--model', 'no spaces allowed'], '--model must be a Bedrock model id'],
    [['--assistant', '--bedrock', 'aws', '--model', 'm', '--region', 'Frankfurt'], '--region must be a region name'],
  ])('%j makes no sense together: refused', async (args, message) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.out).toContain(message);
  });

  test('`test script.json --assistant` runs a conversation script against the scripted model', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'playground-assistant-'));
    try {
      const script = path.join(dir, 'script.json');
      fs.writeFileSync(script, JSON.stringify({ user: 'grace', steps: [{ send: 'what meetings do I have?' }, { expect: { signInCard: true } }, { signIn: 'grace' }, { expect: { text: 'COBOL committee' } }] }));
      const r = await run(['test', script, '--assistant']);
      expect(r.out).toContain('passed');
      expect(r.code).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--bedrock aws with credentials in the environment starts (no AWS call before a message; never sent here)', async () => {
    const env = { ...process.env, AWS_ACCESS_KEY_ID: 'AKIAPLAYGROUNDTEST', AWS_SECRET_ACCESS_KEY: 'not-a-secret', AWS_REGION: 'eu-central-1' };
    const pg = await startPlaygroundProcess(['--assistant', '--bedrock', 'aws', '--model', 'eu.anthropic.claude-3-5-haiku-20241022-v1:0'], { env });
    try {
      expect((await pg.api('status')).body.worker).toBe('assistant (Bedrock, model eu.anthropic.claude-3-5-haiku-20241022-v1:0)');
    } finally {
      await pg.stop();
    }
  });

  test('--bedrock aws without credentials in the environment is refused before anything runs', async () => {
    const env = { ...process.env };
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) delete env[k];
    const r = await run(['--assistant', '--bedrock', 'aws', '--model', 'us.anthropic.claude-3-5-haiku-20241022-v1:0'], env);
    expect(r.code).toBe(2);
    expect(r.out).toContain('--bedrock aws needs AWS credentials in the environment');
    expect(r.out).not.toContain('Teams bot playground: http');
  });
});
