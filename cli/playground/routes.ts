/**
 * The HTTP routes of the playground's stand-ins, shared by the playground's server (server.ts) and the test kit
 * (testing/, `cdk-teams-delegated-auth-bot/testing`): the AWS endpoint (DynamoDB, KMS, Secrets Manager, SSM, Lambda),
 * the local OpenID provider at `/entra/{tenant}/...`, Microsoft Graph at `/graph/...` and the Bot Connector at
 * `/connector/amer/...` (which only accepts the bot's app token of the local IdP).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LocalAws } from './aws/services';
import { ChatError, type Chat } from './chat';
import { graphGet, type Fixtures } from './graph';
import { OAuthError, type LocalIdp } from './identity';
import { loginPage } from './pages';

/** What the stand-ins' routes need. */
export interface StandInContext {
  aws: LocalAws;
  /** The local OpenID provider (absent with `--idp entra`: the real Entra ID and Graph). */
  idp?: LocalIdp;
  chat: Chat;
  fixtures: { get(): Fixtures };
  /** Teams SSO simulation (the playground's `--sso`). */
  sso: boolean;
  /** Called after each Bot Connector call (the playground's `--data` persistence). */
  save: () => void;
}

/**
 * Answers a request for one of the stand-ins (AWS, `/entra/`, `/graph/`, `/connector/amer/`); false if the request is
 * for none of them.
 */
export async function standInRoute(ctx: StandInContext, req: IncomingMessage, res: ServerResponse, url: URL, body: string): Promise<boolean> {
  const path = url.pathname;
  if (LocalAws.isAwsRequest(req)) await ctx.aws.handle(req, res, body);
  else if (path.startsWith('/entra/')) await entraRoute(ctx, req, res, url, body);
  else if (path.startsWith('/graph/')) graphRoute(ctx, req, res, url);
  else if (path.startsWith('/connector/amer/')) connectorRoute(ctx, req, res, path.slice('/connector/amer/'.length), body);
  else return false;
  return true;
}

const MAX_BODY = 1024 * 1024;

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new ChatError(413, 'body too large'));
        req.destroy();
      } else {
        chunks.push(c);
      }
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

export function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(html);
}

async function entraRoute(ctx: StandInContext, req: IncomingMessage, res: ServerResponse, url: URL, body: string): Promise<void> {
  const idp = ctx.idp;
  const m = /^\/entra\/([^/]+)\/(.+)$/.exec(url.pathname);
  if (!idp || !m || m[1].toLowerCase() !== idp.o.tenantId.toLowerCase()) return sendJson(res, 400, { error: 'invalid_tenant', error_description: 'AADSTS90002: Tenant not found.' });
  const route = m[2];
  try {
    if (route === 'v2.0/.well-known/openid-configuration') return sendJson(res, 200, idp.discovery());
    if (route === 'discovery/v2.0/keys') return sendJson(res, 200, idp.jwks());
    if (route === 'oauth2/v2.0/token' && req.method === 'POST') {
      const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
      return sendJson(res, 200, idp.token(new URLSearchParams(body), basic));
    }
    if (route === 'oauth2/v2.0/authorize') return authorize(ctx, idp, req, res, url, body);
    sendJson(res, 404, { error: 'not_found' });
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err;
    if (route === 'oauth2/v2.0/authorize') return sendHtml(res, err.status, loginPage({ error: `${err.error}: ${err.description}` }));
    sendJson(res, err.status, { error: err.error, error_description: err.description, error_codes: [Number(/AADSTS(\d+)/.exec(err.description)?.[1] ?? 0)] });
  }
}

function authorize(ctx: StandInContext, idp: LocalIdp, req: IncomingMessage, res: ServerResponse, url: URL, body: string): void {
  if (req.method === 'POST') {
    const form = new URLSearchParams(body);
    const p = idp.checkAuthorize(new URLSearchParams(form.get('request') ?? ''));
    if (form.get('action') === 'cancel') return redirect(res, idp.denied(p));
    const user = idp.o.users().find((u) => u.handle === form.get('user'));
    if (!user) return sendHtml(res, 400, loginPage({ error: 'Pick one of the test users.' }));
    return redirect(res, idp.issueCode(p, user));
  }
  const p = idp.checkAuthorize(url.searchParams);
  const hinted = idp.o.users().find((u) => u.upn === p.login_hint);
  sendHtml(res, 200, loginPage({ users: idp.o.users(), request: url.searchParams.toString(), hint: hinted?.handle, scope: p.scope ?? '' }));
  void ctx;
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(302, { location, 'cache-control': 'no-store' });
  res.end();
}

function graphRoute(ctx: StandInContext, req: IncomingMessage, res: ServerResponse, url: URL): void {
  const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  const claims = token && ctx.idp ? ctx.idp.verifyGraphToken(token) : undefined;
  if (req.method !== 'GET') return sendJson(res, 405, { error: { code: 'Request_BadRequest', message: 'The playground Graph stand-in serves GET only.' } });
  const answer = graphGet(ctx.fixtures.get(), claims as { oid: string; scp?: string } | undefined, url.pathname.slice('/graph'.length), url.searchParams);
  sendJson(res, answer.status, answer.body);
}

function connectorRoute(ctx: StandInContext, req: IncomingMessage, res: ServerResponse, path: string, body: string): void {
  const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  // The bot's app token from the local IdP (client credentials for the Bot Framework); with --idp entra any bearer.
  const ok = token && (ctx.idp ? ctx.idp.verifyBotToken(token, 'https://api.botframework.com') : true);
  if (!ok) return sendJson(res, 401, { error: { code: 'Unauthorized', message: 'Authorization has been denied for this request.' } });
  if ((req.method === 'POST' || req.method === 'PUT') && !(req.headers['content-type'] ?? '').startsWith('application/json')) {
    return sendJson(res, 415, { error: { code: 'BadArgument', message: 'content-type must be application/json' } });
  }
  let activity: unknown;
  try {
    activity = body === '' ? undefined : JSON.parse(body);
  } catch {
    return sendJson(res, 400, { error: { code: 'BadSyntax', message: 'invalid JSON' } });
  }
  const out = ctx.chat.connector(req.method ?? 'GET', path, activity);
  ctx.save();
  sendJson(res, out.status, out.body);
  if (ctx.sso && out.status === 201) simulateSso(ctx, path, activity);
}

/**
 * Teams SSO, simulated: when the bot posts an OAuthCard with a `tokenExchangeResource` in a personal chat, Teams
 * (signed in as the user) sends the `signin/tokenExchange` invoke with a token for the bot's API instead of showing
 * the card; the receiver exchanges it on behalf of the user at the local IdP.
 */
function simulateSso(ctx: StandInContext, path: string, activity: any): void {
  const card = (activity?.attachments ?? []).find((a: any) => a?.contentType === 'application/vnd.microsoft.card.oauth')?.content;
  const resource = card?.tokenExchangeResource;
  const conversationId = decodeURIComponent(/^v3\/conversations\/([^/]+)\//.exec(path)?.[1] ?? '');
  const conversation = ctx.chat.conversations.get(conversationId);
  if (!resource?.id || !ctx.idp || conversation?.type !== 'personal') return;
  const user = ctx.chat.user(conversation.members[0]);
  setTimeout(() => {
    void ctx.chat.sendInvoke(conversationId, user.handle, 'signin/tokenExchange', { id: resource.id, connectionName: card.connectionName, token: ctx.idp!.ssoToken(user) });
  }, 50);
}
