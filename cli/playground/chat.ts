/**
 * The playground's Teams side: conversations (a personal chat per test user, group chats), the activities a Teams
 * client sends (shaped like Teams': `channelId: msteams`, `29:`/`28:` ids, `a:1…` personal and `19:…@thread.v2`
 * group conversation ids, tenant in `conversation` and `channelData`, `<at>` mentions in group chats), signed by the
 * local Bot Framework issuer and POSTed to the receiver's messaging endpoint; and the Bot Connector REST API v3 the
 * handlers answer through (send, reply, update, delete, typing), recording everything in a transcript per
 * conversation that the page and the scripted API read (server-sent events or long polling).
 */
import { randomBytes } from 'node:crypto';
import { BOT_FRAMEWORK_ISSUER, signJwt, teamsId, type SigningKey, type TestUser } from './identity';

/** One transcript entry. */
export interface Entry {
  /** Position in the conversation's transcript (1, 2, ...). */
  seq: number;
  /** `user`: sent by a test user to the bot; `bot`: received from the bot through the Bot Connector. */
  from: 'user' | 'bot' | 'system';
  /** `activity`: a new activity; `update`: the bot replaced activity `activity.id`; `delete`: the bot deleted it. */
  kind: 'activity' | 'update' | 'delete' | 'notice';
  activity: Record<string, any>;
  /** For user activities: the receiver's answer. */
  receiver?: { status: number; body?: unknown; outcome?: string; reason?: string };
  /** Conversation-relative reply target (`replyToId`). */
  replyToId?: string;
  at: string;
}

/** A conversation of the playground. */
export interface Conversation {
  id: string;
  type: 'personal' | 'groupChat';
  /** Test-user handles of the members (a personal chat has one). */
  members: string[];
  title: string;
  entries: Entry[];
}

type Listener = (e: Entry) => void;

/** Settings of {@link Chat}. */
export interface ChatOptions {
  appId: string;
  botName: string;
  tenantId: string;
  /** `http://localhost:PORT/connector/amer/` */
  serviceUrl: string;
  /**
   * `http://localhost:PORT/api/messages` (where activities go) and the Bot Framework key that signs them. Without them
   * activities are recorded, not posted (the test kit hands them to a worker itself).
   */
  messagingEndpoint?: string;
  botFrameworkKey?: SigningKey;
  users: () => TestUser[];
  /** The receiver's outcome for an activity it answered (from its request log line), if known. */
  outcomeOf?: (activityId: string) => { outcome?: string; reason?: string } | undefined;
}

/** What a test user sends: text, or a card's `Action.Submit` value; optionally as a reply. */
export interface OutgoingMessage {
  text?: string;
  value?: unknown;
  replyToId?: string;
  attachments?: unknown[];
}

/** Conversations, transcripts, the Teams client's outbound activities and the Bot Connector's inbound calls. */
export class Chat {
  readonly conversations = new Map<string, Conversation>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private lastId = 0;

  constructor(readonly o: ChatOptions) {}

  /** A Teams-like message id: epoch milliseconds, strictly increasing. */
  private nextActivityId(): string {
    this.lastId = Math.max(Date.now(), this.lastId + 1);
    return String(this.lastId);
  }

  user(handle: string): TestUser {
    const u = this.o.users().find((x) => x.handle === handle);
    if (!u) throw new ChatError(400, `unknown user "${handle}" (known: ${this.o.users().map((x) => x.handle).join(', ')})`);
    return u;
  }

  /** The personal chat of a user with the bot (created, with the bot's install `conversationUpdate`, on first use). */
  async personal(handle: string): Promise<Conversation> {
    const u = this.user(handle);
    const id = teamsId('a:1', `${this.o.appId}|${u.oid}`);
    const existing = this.conversations.get(id);
    if (existing) return existing;
    return this.create({ id, type: 'personal', members: [handle], title: `${u.name} ↔ ${this.o.botName}`, entries: [] });
  }

  /** A new group chat of the given members and the bot. */
  async group(handles: string[], title?: string): Promise<Conversation> {
    const members = [...new Set(handles)];
    if (members.length < 2) throw new ChatError(400, 'a group chat needs at least two members');
    members.forEach((h) => this.user(h));
    const id = `19:${randomBytes(16).toString('hex')}@thread.v2`;
    return this.create({ id, type: 'groupChat', members, title: title ?? members.map((h) => this.user(h).name.split(' ')[0]).join(', '), entries: [] });
  }

  private async create(c: Conversation): Promise<Conversation> {
    this.conversations.set(c.id, c);
    // Teams tells the bot it was added (the receiver acknowledges other activity types without side effects).
    const first = this.user(c.members[0]);
    const activity = this.base(c, first, 'conversationUpdate');
    activity.membersAdded = [{ id: `28:${this.o.appId}` }, ...c.members.map((h) => ({ id: this.user(h).teamsId, aadObjectId: this.user(h).oid }))];
    activity.channelData.eventType = 'teamMemberAdded';
    await this.post(c, first, activity);
    return c;
  }

  get(id: string): Conversation {
    const c = this.conversations.get(id);
    if (!c) throw new ChatError(404, 'no such conversation');
    return c;
  }

  private base(c: Conversation, u: TestUser, type: string): Record<string, any> {
    const now = new Date();
    return {
      type,
      id: this.nextActivityId(),
      timestamp: now.toISOString(),
      localTimestamp: now.toISOString(),
      channelId: 'msteams',
      serviceUrl: this.o.serviceUrl,
      from: { id: u.teamsId, name: u.name, aadObjectId: u.oid },
      conversation: { id: c.id, conversationType: c.type, tenantId: this.o.tenantId, ...(c.type === 'groupChat' ? { isGroup: true } : {}) },
      recipient: { id: `28:${this.o.appId}`, name: this.o.botName },
      entities: [{ type: 'clientInfo', locale: 'en-US', country: 'US', platform: 'Web', timezone: 'UTC' }],
      channelData: { tenant: { id: this.o.tenantId } },
      locale: 'en-US',
    };
  }

  /** Sends a message as a test user (a group chat message @mentions the bot, as Teams requires). */
  async sendMessage(conversationId: string, handle: string, m: OutgoingMessage): Promise<Entry> {
    const c = this.get(conversationId);
    if (!c.members.includes(handle)) throw new ChatError(400, `${handle} is not a member of this conversation`);
    const u = this.user(handle);
    const a = this.base(c, u, 'message');
    let text = typeof m.text === 'string' ? m.text : '';
    if (c.type === 'groupChat' && m.value === undefined) {
      const mention = `<at>${this.o.botName}</at>`;
      text = `${mention} ${text}`;
      a.entities.push({ type: 'mention', text: mention, mentioned: { id: `28:${this.o.appId}`, name: this.o.botName } });
    }
    a.text = text;
    a.textFormat = 'plain';
    a.attachments = m.attachments ?? [];
    if (m.value !== undefined) a.value = m.value;
    if (m.replyToId) a.replyToId = m.replyToId;
    return this.post(c, u, a);
  }

  /** Sends an invoke activity (e.g. `signin/tokenExchange`); the entry carries the receiver's InvokeResponse. */
  async sendInvoke(conversationId: string, handle: string, name: string, value: unknown): Promise<Entry> {
    const c = this.get(conversationId);
    const u = this.user(handle);
    const a = this.base(c, u, 'invoke');
    a.name = name;
    a.value = value;
    return this.post(c, u, a);
  }

  /** Records the activity; signs it like the Bot Connector Service and POSTs it to the receiver, recording the answer. */
  private async post(c: Conversation, _u: TestUser, activity: Record<string, any>): Promise<Entry> {
    const entry = this.append(c, { from: 'user', kind: 'activity', activity, replyToId: activity.replyToId });
    if (!this.o.messagingEndpoint || !this.o.botFrameworkKey) return entry;
    const jwt = signJwt(this.o.botFrameworkKey, { iss: BOT_FRAMEWORK_ISSUER, aud: this.o.appId, serviceurl: this.o.serviceUrl }, 3600);
    try {
      const res = await fetch(this.o.messagingEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', 'authorization': `Bearer ${jwt}` },
        body: JSON.stringify(activity),
      });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        // keep the text
      }
      entry.receiver = { status: res.status, body, ...this.o.outcomeOf?.(String(activity.id)) };
    } catch (err) {
      entry.receiver = { status: 0, body: { error: (err as Error).message } };
    }
    this.notify(c, { ...entry, kind: 'notice', activity: { type: 'receiverStatus', id: activity.id, ...entry.receiver } });
    return entry;
  }

  private append(c: Conversation, e: Omit<Entry, 'seq' | 'at'>): Entry {
    const entry: Entry = { ...e, seq: c.entries.length + 1, at: new Date().toISOString() };
    c.entries.push(entry);
    for (const l of this.listeners.get(c.id) ?? []) l(entry);
    return entry;
  }

  /** Pushes a notice to listeners without storing it (the receiver's status of a user activity). */
  private notify(c: Conversation, e: Entry): void {
    for (const l of this.listeners.get(c.id) ?? []) l(e);
  }

  /** Subscribes to new entries of a conversation; returns the unsubscribe function. */
  subscribe(conversationId: string, l: Listener): () => void {
    const set = this.listeners.get(conversationId) ?? new Set();
    set.add(l);
    this.listeners.set(conversationId, set);
    return () => set.delete(l);
  }

  /** Entries after `after`, waiting up to `waitMs` for at least one. */
  async entriesAfter(conversationId: string, after: number, waitMs: number): Promise<Entry[]> {
    const c = this.get(conversationId);
    if (c.entries.length > after || waitMs <= 0) return c.entries.slice(after);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, waitMs);
      const off = this.subscribe(conversationId, (e) => {
        if (e.kind !== 'notice') done();
      });
      function done(): void {
        clearTimeout(timer);
        off();
        resolve();
      }
    });
    return c.entries.slice(after);
  }

  /**
   * The Bot Connector REST API v3 (path after the service URL's `/amer/`): records the bot's activity and answers like
   * the service (`201 {id}` for new activities, `200 {id}` for updates, 404 `ConversationNotFound`).
   */
  connector(method: string, path: string, body: any): { status: number; body: unknown } {
    const m = /^v3\/conversations\/([^/]+)\/activities(?:\/([^/]+))?$/.exec(path);
    if (!m) return { status: 404, body: { error: { code: 'NotFound', message: 'no such route' } } };
    const c = this.conversations.get(decodeURIComponent(m[1]));
    if (!c) return { status: 404, body: { error: { code: 'ConversationNotFound', message: 'Conversation not found.' } } };
    const target = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
    if (method === 'DELETE' && target) {
      this.append(c, { from: 'bot', kind: 'delete', activity: { id: target } });
      return { status: 200, body: {} };
    }
    if (!body || typeof body !== 'object' || typeof body.type !== 'string') return { status: 400, body: { error: { code: 'BadArgument', message: 'Activity type is required' } } };
    if (method === 'PUT' && target) {
      if (!c.entries.some((e) => e.from === 'bot' && e.activity.id === target)) return { status: 404, body: { error: { code: 'ActivityNotFoundInConversation', message: 'Activity not found' } } };
      this.append(c, { from: 'bot', kind: 'update', activity: { ...body, id: target } });
      return { status: 200, body: { id: target } };
    }
    if (method !== 'POST') return { status: 405, body: { error: { code: 'MethodNotAllowed', message: method } } };
    const id = this.nextActivityId();
    const activity = { ...body, id, timestamp: new Date().toISOString(), channelId: 'msteams', conversation: body.conversation ?? { id: c.id } };
    const replyToId = target ?? body.replyToId;
    this.append(c, { from: 'bot', kind: 'activity', activity, replyToId });
    return { status: 201, body: { id } };
  }
}

/** A scripted-API error with its HTTP status. */
export class ChatError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}
