/**
 * The playground's Microsoft Graph stand-in (`TDAB_GRAPH_BASE_URL` = `http://localhost:PORT/graph`) and its fixtures:
 * the test users with their profile, mail, calendar and files. The fixtures are a JSON file the user may edit while
 * the playground runs (`--fixtures FILE`, or `fixtures.json` in `--data DIR`); it is re-read when it changes.
 *
 * Routes (GET, bearer token = an access token of the local IdP for Graph): `/v1.0/me` (`$select`), `/v1.0/me/messages`,
 * `/v1.0/me/mailFolders/inbox/messages`, `/v1.0/me/events`, `/v1.0/me/calendarView`, `/v1.0/me/drive/root/children`,
 * `/v1.0/me/drive/recent`, `/v1.0/users/{id|upn}`; `$top` is honoured. Errors have Graph's shape
 * (`{"error":{"code","message"}}`): 401 `InvalidAuthenticationToken`, 403 `ErrorAccessDenied` (scope missing),
 * 404 `Request_ResourceNotFound`.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { TestUser } from './identity';
import { teamsId } from './identity';

/** One user of the fixtures file. */
export interface FixtureUser {
  handle: string;
  id: string;
  displayName: string;
  userPrincipalName: string;
  mail?: string;
  jobTitle?: string;
  messages?: Array<Record<string, unknown>>;
  events?: Array<Record<string, unknown>>;
  files?: Array<Record<string, unknown>>;
}

/** The fixtures file. */
export interface Fixtures {
  tenantId: string;
  users: FixtureUser[];
}

/** The playground's tenant (a GUID, as Teams sends). */
export const PLAYGROUND_TENANT = '7a1f3c2e-5b6d-4e8f-9a0b-1c2d3e4f5a6b';

function mail(subject: string, from: string, minutesAgo: number, preview: string): Record<string, unknown> {
  return {
    id: `AAMk${Buffer.from(subject).toString('base64url').slice(0, 16)}`,
    subject,
    from: { emailAddress: { name: from, address: `${from.split(' ')[0].toLowerCase()}@contoso.example` } },
    receivedDateTime: new Date(Date.now() - minutesAgo * 60_000).toISOString(),
    bodyPreview: preview,
    isRead: minutesAgo > 60,
  };
}

function event(subject: string, inHours: number, hours: number, location: string): Record<string, unknown> {
  const start = new Date(Math.ceil(Date.now() / 3600_000) * 3600_000 + inHours * 3600_000);
  const end = new Date(start.getTime() + hours * 3600_000);
  return {
    id: `AAMkEv${Buffer.from(subject).toString('base64url').slice(0, 12)}`,
    subject,
    start: { dateTime: start.toISOString().slice(0, 19), timeZone: 'UTC' },
    end: { dateTime: end.toISOString().slice(0, 19), timeZone: 'UTC' },
    location: { displayName: location },
  };
}

function driveItem(name: string, kb: number, daysAgo: number): Record<string, unknown> {
  return { id: `01${Buffer.from(name).toString('hex').slice(0, 14).toUpperCase()}`, name, size: kb * 1024, lastModifiedDateTime: new Date(Date.now() - daysAgo * 86400_000).toISOString(), file: {} };
}

/** The built-in fixtures: three test users of the playground tenant. */
export function defaultFixtures(): Fixtures {
  return {
    tenantId: PLAYGROUND_TENANT,
    users: [
      {
        handle: 'ada',
        id: '0d4c2a6e-1b3f-4c5d-8e7f-a1b2c3d4e5f6',
        displayName: 'Ada Lovelace',
        userPrincipalName: 'ada@contoso.example',
        mail: 'ada@contoso.example',
        jobTitle: 'Analyst',
        messages: [mail('Notes on the Analytical Engine', 'Charles Babbage', 12, 'I have read your notes with great interest…'), mail('Quarterly numbers', 'Grace Hopper', 95, 'Attached are the numbers you asked for.')],
        events: [event('Design review', 1, 1, 'Room 42'), event('1:1 with Charles', 26, 0.5, 'Teams')],
        files: [driveItem('Note G.docx', 48, 2), driveItem('Bernoulli numbers.xlsx', 120, 9)],
      },
      {
        handle: 'grace',
        id: '1e5d3b7f-2c4a-4d6e-9f8a-b2c3d4e5f6a7',
        displayName: 'Grace Hopper',
        userPrincipalName: 'grace@contoso.example',
        mail: 'grace@contoso.example',
        jobTitle: 'Rear Admiral',
        messages: [mail('Found a moth in relay 70', 'Harvard Mark II team', 30, 'First actual case of bug being found.')],
        events: [event('COBOL committee', 3, 2, 'Pentagon')],
        files: [driveItem('A-0 compiler.pdf', 300, 1)],
      },
      {
        handle: 'alan',
        id: '2f6e4c8a-3d5b-4e7f-8a9b-c3d4e5f6a7b8',
        displayName: 'Alan Turing',
        userPrincipalName: 'alan@contoso.example',
        mail: 'alan@contoso.example',
        jobTitle: 'Mathematician',
        messages: [],
        events: [],
        files: [],
      },
    ],
  };
}

/** Fixtures backed by a JSON file (re-read when its modification time changes), or in memory. */
export class FixtureStore {
  private cached: Fixtures;
  private mtime = 0;

  constructor(readonly file?: string) {
    if (this.file && !existsSync(this.file)) writeFileSync(this.file, `${JSON.stringify(defaultFixtures(), null, 2)}\n`);
    this.cached = defaultFixtures();
    this.get();
  }

  /** The current fixtures (an invalid file keeps the last good content and reports why on stderr). */
  get(): Fixtures {
    if (!this.file) return this.cached;
    try {
      const m = statSync(this.file).mtimeMs;
      if (m !== this.mtime) {
        this.mtime = m;
        this.cached = validateFixtures(JSON.parse(readFileSync(this.file, 'utf8')));
      }
    } catch (err) {
      process.stderr.write(`playground: ${this.file} ignored: ${(err as Error).message}\n`);
    }
    return this.cached;
  }

  /** Replaces the fixtures (and the file). Throws a TypeError for an invalid document. */
  set(f: unknown): Fixtures {
    const valid = validateFixtures(f);
    this.cached = valid;
    if (this.file) {
      writeFileSync(this.file, `${JSON.stringify(valid, null, 2)}\n`);
      this.mtime = statSync(this.file).mtimeMs;
    }
    return valid;
  }

  /** The test users as the IdP and the chat page see them. */
  users(): TestUser[] {
    return this.get().users.map((u) => ({ handle: u.handle, oid: u.id, teamsId: teamsId('29:1', u.id), name: u.displayName, upn: u.userPrincipalName }));
  }
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Checks the shape of a fixtures document (clear messages for a hand-edited file). */
export function validateFixtures(f: any): Fixtures {
  if (!f || typeof f !== 'object') throw new TypeError('fixtures must be a JSON object');
  if (typeof f.tenantId !== 'string' || !GUID.test(f.tenantId)) throw new TypeError('fixtures.tenantId must be a GUID');
  if (!Array.isArray(f.users) || f.users.length === 0) throw new TypeError('fixtures.users must be a non-empty array');
  const handles = new Set<string>();
  for (const [i, u] of f.users.entries()) {
    if (typeof u?.handle !== 'string' || !/^[a-z0-9_-]{1,32}$/.test(u.handle)) throw new TypeError(`fixtures.users[${i}].handle must be 1-32 of a-z 0-9 _ -`);
    if (handles.has(u.handle)) throw new TypeError(`fixtures.users[${i}].handle "${u.handle}" is used twice`);
    handles.add(u.handle);
    if (typeof u.id !== 'string' || !GUID.test(u.id)) throw new TypeError(`fixtures.users[${i}].id must be a GUID (the Entra object id)`);
    if (typeof u.displayName !== 'string' || u.displayName.trim() === '') throw new TypeError(`fixtures.users[${i}].displayName is required`);
    if (typeof u.userPrincipalName !== 'string') throw new TypeError(`fixtures.users[${i}].userPrincipalName is required`);
    for (const list of ['messages', 'events', 'files']) {
      if (u[list] !== undefined && !Array.isArray(u[list])) throw new TypeError(`fixtures.users[${i}].${list} must be an array`);
    }
  }
  return f as Fixtures;
}

/** Answer of the Graph stand-in. */
export interface GraphAnswer { status: number; body: unknown }

const SCOPE_OF: Array<[RegExp, string[]]> = [
  [/^\/v1\.0\/me$/, ['User.Read', 'User.ReadBasic.All', 'User.Read.All']],
  [/^\/v1\.0\/users\/[^/]+$/, ['User.ReadBasic.All', 'User.Read.All']],
  [/^\/v1\.0\/me\/(messages|mailFolders\/inbox\/messages)$/, ['Mail.Read', 'Mail.ReadBasic', 'Mail.ReadWrite']],
  [/^\/v1\.0\/me\/(events|calendarView|calendar\/events)$/, ['Calendars.Read', 'Calendars.ReadWrite']],
  [/^\/v1\.0\/me\/drive\/(root\/children|recent)$/, ['Files.Read', 'Files.Read.All', 'Files.ReadWrite']],
];

function graphError(status: number, code: string, message: string): GraphAnswer {
  return { status, body: { error: { code, message, innerError: { 'date': new Date().toISOString(), 'request-id': 'playground' } } } };
}

/** Answers one Graph GET for the user of a verified token (`claims`: oid, scp). */
export function graphGet(fixtures: Fixtures, claims: { oid: string; scp?: string } | undefined, path: string, query: URLSearchParams): GraphAnswer {
  if (!claims) return graphError(401, 'InvalidAuthenticationToken', 'Access token is empty or invalid.');
  const route = SCOPE_OF.find(([re]) => re.test(path));
  if (!route) return graphError(404, 'Request_ResourceNotFound', `Resource '${path}' does not exist (playground Graph stand-in).`);
  const granted = (claims.scp ?? '').split(' ');
  if (!route[1].some((s) => granted.includes(s))) return graphError(403, 'ErrorAccessDenied', `Access is denied. Check credentials and try again. (needs one of ${route[1].join(', ')})`);
  const me = fixtures.users.find((u) => u.id.toLowerCase() === String(claims.oid).toLowerCase());
  if (!me) return graphError(404, 'Request_ResourceNotFound', 'The user is not in the playground fixtures.');
  const top = Number(query.get('$top') ?? '') || undefined;
  const list = (items: Array<Record<string, unknown>> = []): GraphAnswer => ({ status: 200, body: { '@odata.context': `https://graph.microsoft.com/v1.0/$metadata#${path}`, 'value': items.slice(0, top ?? items.length) } });
  if (path === '/v1.0/me') return { status: 200, body: select(profile(me), query) };
  if (path.startsWith('/v1.0/users/')) {
    const id = decodeURIComponent(path.slice('/v1.0/users/'.length)).toLowerCase();
    const u = fixtures.users.find((x) => x.id.toLowerCase() === id || x.userPrincipalName.toLowerCase() === id);
    return u ? { status: 200, body: select(profile(u), query) } : graphError(404, 'Request_ResourceNotFound', `Resource '${id}' does not exist.`);
  }
  if (/messages$/.test(path)) return list(me.messages);
  if (/(events|calendarView)$/.test(path)) return list(me.events);
  return list(me.files);
}

function profile(u: FixtureUser): Record<string, unknown> {
  return { '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#users/$entity', 'id': u.id, 'displayName': u.displayName, 'userPrincipalName': u.userPrincipalName, 'mail': u.mail ?? null, 'jobTitle': u.jobTitle ?? null };
}

function select(o: Record<string, unknown>, q: URLSearchParams): Record<string, unknown> {
  const s = q.get('$select');
  if (!s) return o;
  const keep = new Set(s.split(',').map((x) => x.trim()));
  return Object.fromEntries(Object.entries(o).filter(([k]) => k.startsWith('@') || keep.has(k)));
}
