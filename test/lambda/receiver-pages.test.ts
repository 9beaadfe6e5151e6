import { createHash } from 'node:crypto';
import { escapeHtml, idpErrorPage, PAGE_CSP, renderPage, signedInPage, teamsDeepLink } from '../../lambda/receiver/pages';

describe('pages', () => {
  test('escapeHtml escapes markup and attribute breakers', () => {
    expect(escapeHtml('<script>"x"\'&`=/</script>')).not.toMatch(/[<>"'`=/]/);
    expect(escapeHtml('a&b')).toBe('a&#38;b');
  });

  test('every page has the security headers', () => {
    const page = renderPage(400, { title: 't', paragraphs: ['p'] });
    expect(page.headers).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
      'x-frame-options': 'DENY',
    });
    const csp = page.headers['content-security-policy'];
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(page.statusCode).toBe(400);
  });

  test('the only inline style matches its CSP hash; no script, no postMessage', () => {
    const page = signedInPage({ deepLink: 'msteams://teams.microsoft.com/l/chat/0/0?users=28%3Aapp', resumed: 2, remaining: 0 });
    const style = /<style>([\s\S]*?)<\/style>/.exec(page.body)![1];
    const hash = createHash('sha256').update(style, 'utf8').digest('base64');
    expect(PAGE_CSP).toContain(`'sha256-${hash}'`);
    expect(page.body).not.toMatch(/<script/i);
    expect(page.body).not.toContain('postMessage');
    expect(page.body).not.toMatch(/ on[a-z]+=/i);
  });

  test('values are escaped', () => {
    const page = renderPage(200, { title: '<img src=x onerror=alert(1)>', paragraphs: ['"><script>alert(1)</script>'], detail: '</p><b>' });
    expect(page.body).not.toContain('<img');
    expect(page.body).not.toContain('<script>');
    expect(page.body).not.toContain('</p><b>');
  });

  test('success page links back to Teams and counts the messages', () => {
    const page = signedInPage({ deepLink: teamsDeepLink({ cloud: 'public', appId: 'app-1' }), resumed: 3, remaining: 0 });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('href="msteams:&#47;&#47;teams.microsoft.com&#47;l&#47;chat&#47;0&#47;0?users&#61;28%3Aapp-1"');
    expect(page.body).toContain('Your 3 waiting messages are being answered');
    expect(signedInPage({ deepLink: 'msteams://x/', resumed: 1, remaining: 2 }).body).toContain('could not be handed over yet');
  });

  test('deep links per cloud and conversation type', () => {
    expect(teamsDeepLink({ cloud: 'public', appId: 'a' })).toBe('msteams://teams.microsoft.com/l/chat/0/0?users=28%3Aa');
    expect(teamsDeepLink({ cloud: 'usgov', appId: 'a', conversationType: 'personal' })).toMatch(/^msteams:\/\/gov\.teams\.microsoft\.us\//);
    expect(teamsDeepLink({ cloud: 'china', appId: 'a', conversationType: 'channel' })).toBe('msteams://teams.microsoftonline.cn/');
  });

  test('identity provider errors are explained', () => {
    const denied = idpErrorPage({ error: 'access_denied', description: 'AADSTS65004: User declined to consent', deepLink: 'msteams://x/' });
    expect(denied.statusCode).toBe(400);
    expect(denied.body).toContain('cancelled');
    expect(denied.body).toContain('AADSTS65004');
    expect(denied.body).toContain('Your messages are kept');
    expect(idpErrorPage({ error: 'consent_required', deepLink: 'msteams://x/' }).body).toContain('administrator');
    expect(idpErrorPage({ error: 'interaction_required', deepLink: 'msteams://x/' }).body).toContain('multi-factor');
    expect(idpErrorPage({ error: 'temporarily_unavailable', deepLink: 'msteams://x/' }).statusCode).toBe(503);
    const long = idpErrorPage({ error: 'x', description: 'd'.repeat(5000), deepLink: 'msteams://x/' });
    expect(long.body.length).toBeLessThan(4000);
  });
});
