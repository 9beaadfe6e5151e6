/** HTML of the playground's own pages: the chat page's shell and the local IdP's sign-in page. */
import type { TestUser } from './identity';

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]!));
}

const PAGE_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";

/** The chat page: a shell; `/playground/app.js` (the bundled page script) renders everything. */
export function chatPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${PAGE_CSP}">
<title>Teams bot playground</title></head>
<body><div id="app"><p style="font-family:sans-serif;padding:2em">Loading the playground…</p></div>
<script src="/playground/app.js"></script></body></html>`;
}

const LOGIN_STYLE = `body{font-family:"Segoe UI",system-ui,sans-serif;background:#f3f2f1;margin:0;display:flex;justify-content:center}
main{background:#fff;margin-top:8vh;padding:32px 40px;width:380px;box-shadow:0 2px 6px rgba(0,0,0,.2)}
h1{font-size:24px;font-weight:600;margin:0 0 4px}p{color:#605e5c;font-size:14px}
button{display:block;width:100%;text-align:left;margin:8px 0;padding:10px 12px;border:1px solid #c8c6c4;background:#fff;font-size:15px;cursor:pointer}
button:hover,button.hint{border-color:#0078d4;background:#f3f9fd}button small{display:block;color:#605e5c}
button.cancel{text-align:center;color:#323130;background:#f3f2f1}.err{color:#a4262c}code{font-size:12px;word-break:break-all}`;

/** The local IdP's sign-in page: pick a test user (or cancel: `access_denied`), or an error. */
export function loginPage(p: { users?: TestUser[]; request?: string; hint?: string; scope?: string; error?: string }): string {
  const body = p.error
    ? `<h1>Sign-in error</h1><p class="err">${escapeHtml(p.error)}</p>`
    : `<h1>Sign in</h1><p>Local identity provider of the Teams bot playground. Pick a test user; the bot asks for
<code>${escapeHtml(p.scope ?? '')}</code>.</p>
<form method="post"><input type="hidden" name="request" value="${escapeHtml(p.request ?? '')}">
${(p.users ?? []).map((u) => `<button name="user" value="${escapeHtml(u.handle)}" data-user="${escapeHtml(u.handle)}"${u.handle === p.hint ? ' class="hint"' : ''}>${escapeHtml(u.name)}<small>${escapeHtml(u.upn)}</small></button>`).join('\n')}
<button class="cancel" name="action" value="cancel">Cancel</button></form>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in · playground IdP</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http://localhost:* http://127.0.0.1:*">
<style>${LOGIN_STYLE}</style></head><body><main>${body}</main></body></html>`;
}
