/**
 * The playground's chat page in a real browser: Debian's chromium, headless, driven by puppeteer-core (no browser
 * download; `.ci/run` installs the package). The shipped bin runs in its own process with the real receiver and
 * worker bundles.
 *
 * 1. default worker: "hello" → sign-in card → click → local IdP login as Ada → the reply carries Ada's fixture display
 *    name; a second message takes the hot path (the receiver's outcome under the message); sign out → a card again.
 * 2. a worker file of the user, edited while the playground runs: the next reply comes from the new code (which also
 *    streams: typing activities with `streaminfo` entities, then the final message).
 * 3. `--assistant`: a calendar question → sign in → the assistant's streamed answer grows in one bubble ("Looking at
 *    your calendar…", then the text) and the final message with Ada's fixture events replaces it.
 *
 * `PLAYGROUND_SCREENSHOT=docs/images/playground.png npx jest test/playground/browser.e2e.test.ts` writes the docs'
 * screenshot from step 1 (otherwise it goes to test-reports/).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { ROOT, startPlaygroundProcess, waitFor, type RunningPlayground } from './support';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

jest.setTimeout(120_000);

let browser: Browser;

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)`);
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--window-size=1100,900'],
    defaultViewport: { width: 1100, height: 900 },
  });
});

afterAll(async () => {
  await browser?.close();
});

/** Texts of the bot's messages on the page. */
function botTexts(page: Page): Promise<string[]> {
  return page.$$eval('.msg[data-from=bot]', (els) => els.map((e) => (e.querySelector('.text')?.textContent ?? '').trim()));
}

async function send(page: Page, text: string): Promise<void> {
  await page.type('#composer', text);
  await page.click('#send');
}

/** Clicks the sign-in button of the last card, signs in as `user` in the popup, returns the callback page's title. */
async function signInThroughPopup(page: Page, user: string): Promise<string> {
  const button = await waitFor('a sign-in card button', async () => {
    const buttons = await page.$$('.msg[data-from=bot] .card button');
    return buttons.length > 0 ? buttons[buttons.length - 1] : undefined;
  });
  const popupTarget = new Promise<Page>((resolve) => {
    browser.once('targetcreated', (t) => void t.page().then((p) => resolve(p!)));
  });
  await button.click();
  const popup = await popupTarget;
  await popup.waitForSelector(`button[data-user="${user}"]`);
  await Promise.all([popup.waitForNavigation({ waitUntil: 'load' }), popup.click(`button[data-user="${user}"]`)]);
  const title = await popup.title();
  await popup.close();
  return title;
}

async function cards(page: Page): Promise<number> {
  return page.$$eval('.msg[data-from=bot] .card', (els) => els.length);
}

describe('chat page, default worker', () => {
  let pg: RunningPlayground;
  beforeAll(async () => {
    pg = await startPlaygroundProcess();
  });
  afterAll(async () => {
    await pg?.stop();
  });

  test('hello → sign-in card → local IdP as Ada → reply with her display name; hot path; sign out → card again', async () => {
    const page = await browser.newPage();
    await page.goto(pg.url, { waitUntil: 'load' });
    await page.waitForSelector('body[data-ready=true]');
    expect(await page.$eval('#user', (s) => (s as unknown as { value: string }).value)).toBe('ada');

    await send(page, 'hello');
    await waitFor('the sign-in card', async () => (await cards(page)) === 1 || undefined);
    // The card is rendered by the Adaptive Cards renderer, not as text.
    expect(await page.$eval('.msg[data-from=bot] .card', (el) => el.querySelector('.ac-adaptiveCard') !== null)).toBe(true);

    const title = await signInThroughPopup(page, 'ada');
    expect(title).toMatch(/signed in/i);
    await waitFor('the reply with Ada\'s display name', async () => (await botTexts(page)).some((t) => t.includes('Hi Ada Lovelace!') && t.includes('hello')) || undefined);

    await send(page, 'what can you see?');
    await waitFor('the second reply', async () => (await botTexts(page)).some((t) => t.includes('what can you see?')) || undefined);
    const outcome = await waitFor('the receiver outcome of the second message', () => page.$$eval('.msg[data-from=user]', (els) => {
      const last = els[els.length - 1];
      return last.textContent?.includes('what can you see?') ? last.querySelector('.receiver')?.textContent ?? undefined : undefined;
    }));
    expect(outcome).toContain('hot_path');
    expect(await cards(page)).toBe(1);

    // The activity JSON on demand.
    await page.click('.msg[data-from=bot]:last-of-type .show-json');
    const json = await page.$eval('.msg[data-from=bot]:last-of-type pre.json', (el) => JSON.parse(el.textContent ?? '{}'));
    expect(json).toMatchObject({ type: 'message', channelId: 'msteams', conversation: { conversationType: 'personal' } });
    await page.click('.msg[data-from=bot]:last-of-type .show-json');

    const shot = process.env.PLAYGROUND_SCREENSHOT ?? path.join(ROOT, 'test-reports', 'playground.png');
    fs.mkdirSync(path.dirname(shot), { recursive: true });
    await page.screenshot({ path: shot as `${string}.png` });

    await page.click('#signout');
    await waitFor('the sign-out confirmation', async () => (await botTexts(page)).some((t) => t.includes('You are signed out')) || undefined);
    await send(page, 'are you there?');
    await waitFor('a new sign-in card', async () => (await cards(page)) === 2 || undefined);
    await page.close();
  });
});

describe('chat page, the user\'s worker file reloaded on change', () => {
  let pg: RunningPlayground;
  let dir: string;
  let workerFile: string;
  const v1 = `import { defineWorker } from 'cdk-teams-delegated-auth-bot/worker';
export const handler = defineWorker(async ({ graph, reply, update }) => {
  const progress = await reply('Looking you up…');
  const me = await graph.me();
  await update(progress.id!, \`v1 for \${me.displayName}\`);
});
`;
  const v2 = `import { defineWorker } from 'cdk-teams-delegated-auth-bot/worker';
export const handler = defineWorker(async ({ graph, send }) => {
  const first = await send({ type: 'typing', text: 'Thinking…', entities: [{ type: 'streaminfo', streamType: 'informative', streamSequence: 1 }] });
  const me = await graph.me();
  await send({ type: 'typing', text: 'v2 for', entities: [{ type: 'streaminfo', streamId: first.id, streamType: 'streaming', streamSequence: 2 }] });
  await send({ type: 'message', text: \`v2 for **\${me.displayName}**\`, entities: [{ type: 'streaminfo', streamId: first.id, streamType: 'final' }] });
});
`;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'playground-worker-'));
    workerFile = path.join(dir, 'my-worker.ts');
    fs.writeFileSync(workerFile, v1);
    pg = await startPlaygroundProcess(['--worker', workerFile]);
  });
  afterAll(async () => {
    await pg?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('v1 answers (with an update); after editing the file, v2 answers (streamed)', async () => {
    const page = await browser.newPage();
    await page.goto(pg.url, { waitUntil: 'load' });
    await page.waitForSelector('body[data-ready=true]');
    await send(page, 'hi');
    await signInThroughPopup(page, 'ada');
    await waitFor('the v1 answer (updated progress message)', async () => (await botTexts(page)).includes('v1 for Ada Lovelace') || undefined);
    expect(await page.$$eval('.msg[data-from=bot] .edited', (els) => els.length)).toBeGreaterThan(0);

    fs.writeFileSync(workerFile, v2);
    await waitFor('the reload', async () => (await pg.api('status')).body.reloads.length > 0 || undefined);
    expect((await pg.api('status')).body.reloads[0].error).toBeUndefined();

    await send(page, 'again');
    await waitFor('the v2 answer', async () => (await botTexts(page)).includes('v2 for Ada Lovelace') || undefined);
    // The final message replaced the streamed one (markdown rendered), no streaming bubble left.
    expect(await page.$$eval('.msg.streaming', (els) => els.length)).toBe(0);
    expect(await page.$$eval('.msg[data-from=bot] .text strong', (els) => els.map((e) => e.textContent))).toContain('Ada Lovelace');
    await page.close();
  });
});

describe('chat page, --assistant (local scripted model)', () => {
  let pg: RunningPlayground;
  beforeAll(async () => {
    pg = await startPlaygroundProcess(['--assistant']);
  });
  afterAll(async () => {
    await pg?.stop();
  });

  test('the streamed answer grows in one bubble, then the final message with Ada\'s events replaces it', async () => {
    const page = await browser.newPage();
    await page.goto(pg.url, { waitUntil: 'load' });
    await page.waitForSelector('body[data-ready=true]');
    // Records what the streaming bubble showed (it is gone once the final message replaced it).
    // (Browser code as a string: the tests are type-checked without the DOM library.)
    await page.evaluate(`{
      const seen = [];
      window.streamed = seen;
      new MutationObserver(() => {
        for (const el of document.querySelectorAll('.msg.streaming .text')) {
          const t = (el.textContent || '').trim();
          if (t !== '' && seen[seen.length - 1] !== t) seen.push(t);
        }
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    }`);
    await send(page, 'what is on my calendar?');
    await signInThroughPopup(page, 'ada');
    const final = await waitFor('the final answer with Ada\'s events', async () => (await botTexts(page)).find((t) => t.includes('Design review') && t.includes('1:1 with Charles')), 30_000);
    const streamed = await page.evaluate('window.streamed') as string[];
    expect(streamed[0]).toBe('Looking at your calendar…');
    const text = streamed.slice(1);
    expect(text.length).toBeGreaterThanOrEqual(1);
    expect(text.every((t) => final.startsWith(t.slice(0, 8)) && t.length < final.length)).toBe(true);
    expect(await page.$$eval('.msg.streaming', (els) => els.length)).toBe(0);
    expect(await page.$$eval('.msg[data-from=bot] .text strong', (els) => els.map((e) => e.textContent))).toContain('Design review');
    await page.close();
  });
});
