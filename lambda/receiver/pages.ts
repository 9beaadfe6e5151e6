import { createHash } from 'node:crypto';
import { cloudProfileOrPublic } from '../../src/private/cloud-profiles';

/**
 * HTML pages of the OAuth callback. No script at all; one inline stylesheet allowed by its hash in a strict
 * Content-Security-Policy; every interpolated value HTML-escaped.
 */

/** A function URL response (APIGatewayProxyStructuredResultV2 subset). */
export interface HttpResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded?: boolean;
}

/** Escapes a value for HTML text and double-quoted attribute contexts. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`=/]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = [
  'body{font-family:"Segoe UI",system-ui,-apple-system,sans-serif;background:#f5f5f5;color:#242424;margin:0}',
  'main{max-width:34rem;margin:10vh auto;background:#fff;border-radius:8px;padding:2rem;box-shadow:0 2px 8px rgba(0,0,0,.12)}',
  'h1{font-size:1.4rem;margin-top:0}',
  'p{line-height:1.5}',
  '.btn{display:inline-block;background:#5b5fc7;color:#fff;text-decoration:none;padding:.6rem 1.2rem;border-radius:4px;font-weight:600}',
  '.detail{color:#616161;font-size:.9rem;word-break:break-word}',
].join('');

/** sha256 CSP source of the page's only inline stylesheet. */
export const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE, 'utf8').digest('base64')}'`;

/** The Content-Security-Policy of every page: nothing but the hashed inline style. */
export const PAGE_CSP = [
  "default-src 'none'",
  `style-src ${STYLE_HASH}`,
  "img-src 'none'",
  "script-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Security headers shared by every HTML page. */
export function pageHeaders(): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': PAGE_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'cache-control': 'no-store',
    'pragma': 'no-cache',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
  };
}

/** Content of one page. Every string is plain text: the renderer escapes it. */
export interface PageContent {
  readonly title: string;
  readonly paragraphs: readonly string[];
  /** Smaller print, e.g. the identity provider's error description. */
  readonly detail?: string;
  /** A link button (e.g. the msteams:// deep link). */
  readonly link?: { readonly href: string; readonly label: string };
}

/** Renders a page with the given status and the security headers. */
export function renderPage(statusCode: number, content: PageContent): HttpResult {
  const parts = [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width,initial-scale=1">',
    '<meta name="referrer" content="no-referrer">',
    `<title>${escapeHtml(content.title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head><body><main>',
    `<h1>${escapeHtml(content.title)}</h1>`,
    ...content.paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`),
  ];
  if (content.link) {
    parts.push(`<p><a class="btn" href="${escapeHtml(content.link.href)}" rel="noreferrer noopener">${escapeHtml(content.link.label)}</a></p>`);
  }
  if (content.detail) parts.push(`<p class="detail">${escapeHtml(content.detail)}</p>`);
  parts.push('</main></body></html>');
  return { statusCode, headers: pageHeaders(), body: parts.join('') };
}

/**
 * The `msteams://` deep link back to Teams: the 1:1 chat with the bot for personal conversations, otherwise Teams
 * itself (channel and group chat links need ids Teams does not give the bot in a stable form).
 */
export function teamsDeepLink(opts: { cloud: string; appId: string; conversationType?: string }): string {
  const host = cloudProfileOrPublic(opts.cloud).teamsWebHost;
  if (opts.conversationType === undefined || opts.conversationType === 'personal') {
    return `msteams://${host}/l/chat/0/0?users=${encodeURIComponent(`28:${opts.appId}`)}`;
  }
  return `msteams://${host}/`;
}

/** Success page: tokens stored, messages handed to the worker. */
export function signedInPage(opts: { deepLink: string; resumed: number; remaining: number }): HttpResult {
  const paragraphs = ['You are signed in. You can close this window and go back to Microsoft Teams.'];
  if (opts.resumed > 0) {
    paragraphs.push(opts.resumed === 1
      ? 'Your waiting message is being answered in Teams now.'
      : `Your ${opts.resumed} waiting messages are being answered in Teams now.`);
  }
  if (opts.remaining > 0) {
    paragraphs.push('Some of your earlier messages could not be handed over yet. They will be answered, in order, when you send your next message.');
  }
  return renderPage(200, { title: 'Signed in', paragraphs, link: { href: opts.deepLink, label: 'Back to Teams' } });
}

/** Plain-language explanations of the OAuth 2.0 / OIDC / Entra redirect errors. */
const IDP_ERRORS: Record<string, string> = {
  access_denied: 'The sign-in was cancelled, or permission was not granted.',
  consent_required: 'Permission for this bot has not been granted yet. An administrator of your organization may need to approve it.',
  interaction_required: 'Microsoft needs you to complete an extra step (for example multi-factor authentication or accepting terms) before you can sign in.',
  login_required: 'You need to sign in with your account.',
  account_selection_required: 'Please choose the account you use in Teams.',
  invalid_request: 'The sign-in request was not accepted.',
  unauthorized_client: 'This bot is not allowed to sign you in. An administrator needs to check its app registration.',
  invalid_scope: 'The bot asked for a permission that your organization does not offer.',
  unsupported_response_type: 'The sign-in request was not accepted.',
  server_error: 'Microsoft sign-in had a problem.',
  temporarily_unavailable: 'Microsoft sign-in is temporarily unavailable.',
};

/** Maximum length of the identity provider's error description shown on a page. */
const MAX_DETAIL = 400;

/**
 * Page for an identity-provider error on a redirect whose state verified (`error=…`): the code's explanation and the
 * description, escaped and cut to 400 characters.
 */
export function idpErrorPage(opts: { error: string; description?: string; deepLink: string }): HttpResult {
  const known = IDP_ERRORS[opts.error];
  const status = opts.error === 'server_error' || opts.error === 'temporarily_unavailable' ? 503 : 400;
  const detail = opts.description
    ? `${opts.error}: ${opts.description.length > MAX_DETAIL ? `${opts.description.slice(0, MAX_DETAIL)}…` : opts.description}`
    : opts.error;
  return renderPage(status, {
    title: 'Sign-in did not complete',
    paragraphs: [
      known ?? 'Microsoft sign-in reported an error.',
      'Your messages are kept. Send a new message in Teams to get a new sign-in link.',
    ],
    detail,
    link: { href: opts.deepLink, label: 'Back to Teams' },
  });
}

/** An Entra error code (`AADSTS` and digits) in a text, if any: the only part of an unverified error shown. */
export function aadstsCodeOf(text: string | undefined): string | undefined {
  return text ? /\bAADSTS\d{1,10}\b/.exec(text)?.[0] : undefined;
}

/**
 * Page for an identity-provider error on a redirect without a valid state: anyone can craft such a link, so the page
 * shows a fixed text and at most the `AADSTS` code found in the description, never the query's text.
 */
export function unverifiedIdpErrorPage(opts: { description?: string; deepLink: string }): HttpResult {
  const code = aadstsCodeOf(opts.description);
  return renderPage(400, {
    title: 'Sign-in did not complete',
    paragraphs: [
      'Microsoft sign-in reported an error, and this page was not reached from a sign-in link of this bot that is still valid.',
      'Go back to Teams and send a message to get a new sign-in link. Your messages are kept.',
    ],
    ...(code ? { detail: code } : {}),
    link: { href: opts.deepLink, label: 'Back to Teams' },
  });
}

/** Generic error page (bad or expired state, failed redemption, unavailable services, identity mismatch...). */
export function errorPage(statusCode: number, title: string, paragraphs: readonly string[], link?: { href: string; label: string }): HttpResult {
  return renderPage(statusCode, { title, paragraphs, ...(link ? { link } : {}) });
}
