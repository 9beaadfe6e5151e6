/**
 * The playground's chat page (runs in the browser; bundled by esbuild into assets/cli/playground/page/index.js).
 * A Teams-like chat: the transcript of the selected conversation over server-sent events, Adaptive Cards rendered by
 * Microsoft's `adaptivecards` renderer (OAuth and hero cards are shown as the equivalent Adaptive Card, as Teams
 * does), markdown by markdown-it (HTML disabled), message updates, deletes, typing and streaming (`streaminfo`
 * entities), quoted replies, the activity JSON on demand, test-user and conversation switching, and sign-out.
 */
/* eslint-disable import/no-extraneous-dependencies */ // bundled into the page asset by esbuild
import * as AC from 'adaptivecards';
import acCss from 'adaptivecards/lib/adaptivecards.css';
import MarkdownIt from 'markdown-it';
/* eslint-enable import/no-extraneous-dependencies */

interface TestUser { handle: string; oid: string; teamsId: string; name: string; upn: string }
interface Entry { seq: number; from: 'user' | 'bot' | 'system'; kind: string; activity: any; receiver?: { status: number; body?: unknown }; replyToId?: string; at: string }
interface ConversationSummary { id: string; type: 'personal' | 'groupChat'; members: string[]; title: string }

const md = new MarkdownIt({ html: false, linkify: true, breaks: true });
AC.AdaptiveCard.onProcessMarkdown = (text, result) => {
  result.outputHtml = md.render(text);
  result.didProcess = true;
};

const state = {
  users: [] as TestUser[],
  user: '',
  conversation: undefined as ConversationSummary | undefined,
  conversations: [] as ConversationSummary[],
  source: undefined as EventSource | undefined,
  /** activity id → its message element */
  nodes: new Map<string, HTMLElement>(),
  /** streamId → its streaming element */
  streams: new Map<string, HTMLElement>(),
  activities: new Map<string, any>(),
  replyTo: undefined as { id: string; text: string } | undefined,
  typingTimer: undefined as number | undefined,
  botName: 'Bot',
};

type Tag = keyof HTMLElementTagNameMap;

function h<K extends Tag>(tag: K, attrs: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(c);
  return el;
}

async function api(path: string, init?: { method?: string; body?: unknown }): Promise<any> {
  const res = await fetch(`/playground/api/${path}`, {
    method: init?.method ?? 'GET',
    headers: init?.body !== undefined ? { 'content-type': 'application/json' } : {},
    body: init?.body !== undefined ? JSON.stringify(init.body) : undefined,
  });
  const body = await res.json();
  if (!res.ok) throw new Error(body?.error ?? `HTTP ${res.status}`);
  return body;
}

const STYLE = `
body{margin:0;font-family:"Segoe UI",system-ui,-apple-system,sans-serif;background:#f5f5f5;color:#242424}
#top{display:flex;gap:12px;align-items:center;background:#464775;color:#fff;padding:8px 16px;flex-wrap:wrap}
#top b{font-weight:600;margin-right:8px}#top label{font-size:13px}#top select,#top button{font:inherit;font-size:13px;padding:3px 6px;border-radius:4px;border:0}
#top .info{margin-left:auto;font-size:12px;opacity:.85}
#wrap{display:flex;flex-direction:column;height:calc(100vh - 48px)}
#title{background:#fff;border-bottom:1px solid #e0e0e0;padding:10px 20px;font-weight:600}
#log{flex:1;overflow-y:auto;padding:16px 20px}
.msg{max-width:70%;margin:10px 0;padding:8px 12px;border-radius:6px;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.12);position:relative}
.msg[data-from=user]{margin-left:auto;background:#e8ebfa}
.msg .meta{font-size:12px;color:#616161;margin-bottom:4px;display:flex;gap:8px}
.msg .meta .tools{margin-left:auto;display:flex;gap:6px}.msg .meta button{border:0;background:none;color:#5b5fc7;cursor:pointer;font-size:12px;padding:0}
.msg .text p{margin:0 0 6px}.msg .text p:last-child{margin:0}.msg .text.plain{white-space:pre-wrap}
.msg .quote{border-left:3px solid #5b5fc7;padding:2px 8px;margin-bottom:6px;font-size:12px;color:#424242;background:rgba(0,0,0,.03)}
.msg .edited{font-size:11px;color:#8a8a8a;margin-left:4px}.msg.deleted .text{font-style:italic;color:#8a8a8a}
.msg .status{font-size:11px;color:#a4262c}.msg .receiver{font-size:11px;color:#8a8a8a;margin-top:4px}.msg.streaming .text{color:#424242}.msg .informative{font-style:italic;color:#616161}
.msg pre.json{font-size:11px;background:#1e1e1e;color:#d4d4d4;padding:8px;overflow:auto;max-height:320px;border-radius:4px}
.card{margin-top:6px;border:1px solid #e0e0e0;border-radius:4px;overflow:hidden;background:#fff}
.system{text-align:center;font-size:12px;color:#616161;margin:8px 0}
#typing{height:18px;font-size:12px;color:#616161;padding:0 20px}
#compose{background:#fff;border-top:1px solid #e0e0e0;padding:10px 20px}
#replying{font-size:12px;color:#5b5fc7;margin-bottom:4px}#replying button{border:0;background:none;cursor:pointer}
#compose form{display:flex;gap:8px}#composer{flex:1;font:inherit;padding:8px;border:1px solid #d1d1d1;border-radius:4px;border-bottom:2px solid #5b5fc7}
#compose button{font:inherit;padding:6px 14px;border-radius:4px;border:1px solid #d1d1d1;background:#fff;cursor:pointer}#send{background:#5b5fc7!important;color:#fff;border-color:#5b5fc7!important}
dialog textarea{width:70vw;height:60vh;font-family:monospace;font-size:12px}
`;

function layout(): void {
  const style = h('style');
  style.textContent = `${acCss}\n${STYLE}`;
  document.head.append(style);
  const app = document.getElementById('app')!;
  app.replaceChildren(
    h('div', { id: 'top' },
      h('b', {}, 'Teams bot playground'),
      h('label', {}, 'Signed in to Teams as ', h('select', { 'id': 'user', 'aria-label': 'test user' })),
      h('label', {}, 'Chat ', h('select', { 'id': 'conversation', 'aria-label': 'conversation' })),
      h('button', { id: 'new-group', type: 'button' }, 'New group chat'),
      h('button', { id: 'fixtures', type: 'button' }, 'Graph fixtures'),
      h('span', { class: 'info', id: 'info' })),
    h('div', { id: 'wrap' },
      h('div', { id: 'title' }),
      h('div', { 'id': 'log', 'role': 'log', 'aria-live': 'polite' }),
      h('div', { id: 'typing' }),
      h('div', { id: 'compose' },
        h('div', { id: 'replying', hidden: '' }),
        h('form', { id: 'form' },
          h('input', { 'id': 'composer', 'autocomplete': 'off', 'placeholder': 'Type a message', 'aria-label': 'message' }),
          h('button', { id: 'send', type: 'submit' }, 'Send'),
          h('button', { id: 'signout', type: 'button', title: 'Sends "sign out", the bot\'s sign-out command' }, 'Sign out')))),
    h('dialog', { id: 'fixtures-dialog' },
      h('p', {}, 'Microsoft Graph fixtures (what /me, mail, calendar and files return for each test user).'),
      h('textarea', { id: 'fixtures-text', spellcheck: 'false' }),
      h('p', { id: 'fixtures-error', style: 'color:#a4262c' }),
      h('button', { id: 'fixtures-save', type: 'button' }, 'Save'), ' ',
      h('button', { id: 'fixtures-close', type: 'button' }, 'Close')),
  );
}

function name(handle: string): string {
  return state.users.find((u) => u.handle === handle)?.name ?? handle;
}

async function refreshConversations(selectId?: string): Promise<void> {
  const { conversations } = await api('conversations');
  state.conversations = (conversations as ConversationSummary[]).filter((c) => c.members.includes(state.user));
  const select = document.getElementById('conversation') as HTMLSelectElement;
  select.replaceChildren(...state.conversations.map((c) => h('option', { value: c.id }, c.type === 'personal' ? `${state.botName} (personal chat)` : `Group: ${c.title}`)));
  const wanted = selectId ?? state.conversation?.id;
  const pick = state.conversations.find((c) => c.id === wanted) ?? state.conversations.find((c) => c.type === 'personal');
  if (pick) {
    select.value = pick.id;
    open(pick);
  }
}

async function selectUser(handle: string): Promise<void> {
  state.user = handle;
  await api('conversations', { method: 'POST', body: { user: handle, type: 'personal' } });
  await refreshConversations(state.conversation && state.conversation.members.includes(handle) ? state.conversation.id : undefined);
}

function open(c: ConversationSummary): void {
  state.source?.close();
  state.conversation = c;
  state.nodes.clear();
  state.streams.clear();
  state.activities.clear();
  setReplyTo(undefined);
  document.getElementById('title')!.textContent = c.type === 'personal'
    ? `${state.botName} · personal chat of ${name(c.members[0])}`
    : `Group chat: ${c.members.map(name).join(', ')} and ${state.botName} (messages @mention the bot)`;
  document.getElementById('log')!.replaceChildren();
  const source = new EventSource(`/playground/api/conversations/${encodeURIComponent(c.id)}/events`);
  source.onmessage = (ev) => show(JSON.parse(ev.data) as Entry);
  state.source = source;
}

function append(el: HTMLElement): void {
  const log = document.getElementById('log')!;
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  log.append(el);
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function streamInfo(a: any): { streamType?: string; streamId?: string; streamSequence?: number } | undefined {
  const e = (a.entities ?? []).find((x: any) => x?.type === 'streaminfo');
  if (e) return e;
  const cd = a.channelData;
  if (cd?.streamType) return { streamType: cd.streamType, streamId: cd.streamId, streamSequence: cd.streamSequence };
  return undefined;
}

function show(e: Entry): void {
  const a = e.activity;
  if (e.kind === 'notice') return receiverStatus(a.id, a);
  if (e.kind === 'update') return update(a);
  if (e.kind === 'delete') return remove(a.id);
  state.activities.set(a.id, a);
  if (e.from === 'user') {
    if (a.type === 'message') append(message(e));
    else if (a.type === 'invoke') append(h('div', { 'class': 'system', 'data-activity': a.id }, `Teams sent the invoke "${a.name}" for ${a.from?.name ?? 'the user'}`));
    if (e.receiver) receiverStatus(a.id, e.receiver);
    return;
  }
  if (a.type === 'typing') return typing(a);
  if (a.type !== 'message') return;
  const info = streamInfo(a);
  if (info?.streamType === 'final' && info.streamId && state.streams.has(info.streamId)) {
    const old = state.streams.get(info.streamId)!;
    state.streams.delete(info.streamId);
    const el = message(e);
    old.replaceWith(el);
    return;
  }
  hideTyping();
  append(message(e));
}

function typing(a: any): void {
  const info = streamInfo(a);
  if (!info) {
    const t = document.getElementById('typing')!;
    t.textContent = `${state.botName} is typing…`;
    clearTimeout(state.typingTimer);
    state.typingTimer = window.setTimeout(hideTyping, 3000);
    return;
  }
  hideTyping();
  const streamId = info.streamId ?? a.id;
  let el = state.streams.get(streamId);
  if (!el) {
    el = h('div', { 'class': 'msg streaming', 'data-from': 'bot', 'data-stream': streamId });
    state.streams.set(streamId, el);
    append(el);
  }
  const body = info.streamType === 'informative'
    ? h('div', { class: 'text informative' }, a.text ?? '')
    : textNode(a.text ?? '', 'markdown');
  el.replaceChildren(meta(a, 'bot', { streaming: `streaming #${info.streamSequence ?? '?'}` }), body);
}

function hideTyping(): void {
  document.getElementById('typing')!.textContent = '';
}

function meta(a: any, from: string, extra: Record<string, string> = {}): HTMLElement {
  const tools = h('span', { class: 'tools' });
  if (from === 'bot' && a.type === 'message' && !extra.streaming) {
    const reply = h('button', { type: 'button', class: 'reply' }, 'Reply');
    reply.onclick = () => setReplyTo({ id: a.id, text: a.text ?? '(card)' });
    tools.append(reply);
  }
  const json = h('button', { type: 'button', class: 'show-json', title: 'Show the activity JSON' }, '{ }');
  json.onclick = (ev) => {
    const msg = (ev.target as HTMLElement).closest('.msg')!;
    const existing = msg.querySelector('pre.json');
    if (existing) existing.remove();
    else msg.append(h('pre', { class: 'json' }, JSON.stringify(state.activities.get(a.id) ?? a, null, 2)));
  };
  tools.append(json);
  const when = new Date(a.timestamp ?? Date.now()).toLocaleTimeString();
  return h('div', { class: 'meta' }, h('span', {}, a.from?.name ?? (from === 'bot' ? state.botName : '')), h('span', {}, when), ...(extra.streaming ? [h('span', {}, extra.streaming)] : []), tools);
}

function textNode(text: string, format: string | undefined): HTMLElement {
  if (format === 'plain') return h('div', { class: 'text plain' }, text);
  const div = h('div', { class: 'text' });
  div.innerHTML = md.render(text); // markdown-it with html: false escapes any markup in the text
  return div;
}

function message(e: Entry): HTMLElement {
  const a = e.activity;
  const el = h('div', { 'class': 'msg', 'data-from': e.from, 'data-activity': a.id });
  el.append(meta(a, e.from));
  const replyTo = e.replyToId ?? a.replyToId;
  if (replyTo && state.activities.has(replyTo)) {
    const quoted = state.activities.get(replyTo);
    el.append(h('div', { class: 'quote' }, `${quoted.from?.name ?? ''}: ${String(quoted.text ?? '(card)').replace(/<at>[^<]*<\/at>\s*/g, '').slice(0, 80)}`));
  }
  if (a.text) el.append(e.from === 'user' ? h('div', { class: 'text plain' }, a.text.replace(/<at>([^<]*)<\/at>/g, '@$1')) : textNode(a.text, a.textFormat));
  for (const att of a.attachments ?? []) el.append(attachment(att));
  if (e.from === 'user' && a.value !== undefined && !a.text) el.append(h('div', { class: 'text plain' }, `(card submitted: ${JSON.stringify(a.value)})`));
  return el;
}

function update(a: any): void {
  const old = state.nodes.get(a.id) ?? document.querySelector<HTMLElement>(`.msg[data-activity="${CSS.escape(a.id)}"]`);
  const prev = state.activities.get(a.id) ?? {};
  const merged = { ...prev, ...a };
  state.activities.set(a.id, merged);
  const el = message({ seq: 0, from: 'bot', kind: 'activity', activity: merged, at: '' });
  el.querySelector('.meta span:nth-child(2)')?.append(h('span', { class: 'edited' }, 'Edited'));
  if (old) old.replaceWith(el);
  else append(el);
}

function remove(id: string): void {
  const old = document.querySelector<HTMLElement>(`.msg[data-activity="${CSS.escape(id)}"]`);
  if (!old) return;
  old.classList.add('deleted');
  old.querySelector('.text')?.replaceChildren('This message has been deleted.');
  old.querySelectorAll('.card').forEach((c) => c.remove());
}

/** Under a user's message: the receiver's HTTP status and outcome (`hot_path`, `pending`, `signed_out`...). */
function receiverStatus(id: string, r: { status: number; outcome?: string; reason?: string }): void {
  const el = document.querySelector(`.msg[data-activity="${CSS.escape(id)}"]`);
  if (!el || el.querySelector('.receiver')) return;
  const text = `receiver: ${r.status}${r.outcome ? ` · ${r.outcome}` : ''}${r.reason ? ` · ${r.reason}` : ''}`;
  el.append(h('div', { class: r.status === 200 ? 'receiver' : 'receiver status', title: 'the receiver\'s answer to this activity' }, text));
}

/** An attachment as an Adaptive Card (OAuth, sign-in and hero cards converted like Teams renders them). */
function attachment(att: any): HTMLElement {
  const box = h('div', { 'class': 'card', 'data-content-type': String(att?.contentType ?? '') });
  let json: any;
  if (att?.contentType === 'application/vnd.microsoft.card.adaptive') json = att.content;
  else if (att?.contentType === 'application/vnd.microsoft.card.oauth' || att?.contentType === 'application/vnd.microsoft.card.signin') json = buttonsCard(att.content?.text, undefined, att.content?.buttons);
  else if (att?.contentType === 'application/vnd.microsoft.card.hero' || att?.contentType === 'application/vnd.microsoft.card.thumbnail') json = buttonsCard(att.content?.text, att.content?.title, att.content?.buttons);
  if (!json) {
    box.append(h('div', { class: 'text plain' }, `(attachment ${att?.contentType ?? ''}${att?.name ? `: ${att.name}` : ''})`));
    return box;
  }
  const card = new AC.AdaptiveCard();
  card.hostConfig = new AC.HostConfig({ fontFamily: 'Segoe UI, system-ui, sans-serif', supportsInteractivity: true });
  card.onExecuteAction = (action) => void executeAction(action);
  try {
    card.parse(json);
    const el = card.render();
    if (el) box.append(el);
  } catch (err) {
    box.append(h('div', { class: 'status' }, `card could not be rendered: ${(err as Error).message}`));
  }
  return box;
}

function buttonsCard(text: string | undefined, title: string | undefined, buttons: any[] | undefined): any {
  return {
    type: 'AdaptiveCard',
    version: '1.4',
    body: [...(title ? [{ type: 'TextBlock', text: title, weight: 'Bolder', size: 'Medium', wrap: true }] : []), ...(text ? [{ type: 'TextBlock', text, wrap: true }] : [])],
    actions: (buttons ?? []).filter((b) => typeof b?.value === 'string').map((b) => ({ type: 'Action.OpenUrl', title: b.title ?? 'Open', url: b.value })),
  };
}

async function executeAction(action: AC.Action): Promise<void> {
  const c = state.conversation;
  if (!c) return;
  if (action instanceof AC.OpenUrlAction) {
    if (action.url) window.open(action.url, '_blank', 'popup,width=520,height=680');
  } else if (action instanceof AC.ExecuteAction) {
    await api(`conversations/${encodeURIComponent(c.id)}/invoke`, { method: 'POST', body: { user: state.user, name: 'adaptiveCard/action', value: { action: { type: 'Action.Execute', verb: action.verb, data: action.data }, trigger: 'manual' } } });
  } else if (action instanceof AC.SubmitAction) {
    await api(`conversations/${encodeURIComponent(c.id)}/messages`, { method: 'POST', body: { user: state.user, value: action.data ?? {} } });
  }
}

function setReplyTo(r: { id: string; text: string } | undefined): void {
  state.replyTo = r;
  const el = document.getElementById('replying');
  if (!el) return;
  el.hidden = !r;
  if (r) {
    const cancel = h('button', { type: 'button', title: 'cancel the reply' }, '✕');
    cancel.onclick = () => setReplyTo(undefined);
    el.replaceChildren(`Replying to: ${r.text.slice(0, 60)} `, cancel);
  }
}

async function send(text: string): Promise<void> {
  const c = state.conversation;
  if (!c || text.trim() === '') return;
  const body: Record<string, unknown> = { user: state.user, text };
  if (state.replyTo) body.replyToId = state.replyTo.id;
  setReplyTo(undefined);
  await api(`conversations/${encodeURIComponent(c.id)}/messages`, { method: 'POST', body });
}

function wire(): void {
  const form = document.getElementById('form') as HTMLFormElement;
  const input = document.getElementById('composer') as HTMLInputElement;
  form.onsubmit = (ev) => {
    ev.preventDefault();
    const text = input.value;
    input.value = '';
    void send(text);
  };
  document.getElementById('signout')!.onclick = () => void send('sign out');
  (document.getElementById('user') as HTMLSelectElement).onchange = (ev) => void selectUser((ev.target as HTMLSelectElement).value);
  (document.getElementById('conversation') as HTMLSelectElement).onchange = (ev) => {
    const c = state.conversations.find((x) => x.id === (ev.target as HTMLSelectElement).value);
    if (c) open(c);
  };
  document.getElementById('new-group')!.onclick = async () => {
    const c = await api('conversations', { method: 'POST', body: { type: 'groupChat', members: state.users.map((u) => u.handle) } });
    await refreshConversations(c.id);
  };
  const dialog = document.getElementById('fixtures-dialog') as HTMLDialogElement;
  const text = document.getElementById('fixtures-text') as HTMLTextAreaElement;
  document.getElementById('fixtures')!.onclick = async () => {
    text.value = JSON.stringify(await api('fixtures'), null, 2);
    document.getElementById('fixtures-error')!.textContent = '';
    dialog.showModal();
  };
  document.getElementById('fixtures-close')!.onclick = () => dialog.close();
  document.getElementById('fixtures-save')!.onclick = async () => {
    try {
      await api('fixtures', { method: 'PUT', body: JSON.parse(text.value) });
      dialog.close();
    } catch (err) {
      document.getElementById('fixtures-error')!.textContent = (err as Error).message;
    }
  };
}

async function main(): Promise<void> {
  layout();
  wire();
  const status = await api('status');
  state.botName = status.botName;
  document.getElementById('info')!.textContent = `worker: ${status.worker} · IdP: ${status.idp}${status.sso ? ' · SSO' : ''}`;
  state.users = (await api('users')).users;
  const select = document.getElementById('user') as HTMLSelectElement;
  select.replaceChildren(...state.users.map((u) => h('option', { value: u.handle }, u.name)));
  const wanted = new URLSearchParams(location.search).get('user');
  const first = state.users.find((u) => u.handle === wanted) ?? state.users[0];
  select.value = first.handle;
  await selectUser(first.handle);
  document.body.dataset.ready = 'true';
}

void main();
