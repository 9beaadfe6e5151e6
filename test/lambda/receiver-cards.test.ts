import { ADAPTIVE_CARD_CONTENT_TYPE, OAUTH_CARD_CONTENT_TYPE, signedOutActivity, signInActivity, SSO_CONNECTION_NAME } from '../../lambda/receiver/cards';

const URL_ = 'https://login.microsoftonline.com/t/oauth2/v2.0/authorize?state=s';

describe('sign-in card', () => {
  test('Adaptive Card with Action.OpenUrl to the authorize URL, telling the user they will be answered', () => {
    const a = signInActivity({ authorizeUrl: URL_ }) as any;
    expect(a.type).toBe('message');
    expect(a.attachments).toHaveLength(1);
    const card = a.attachments[0];
    expect(card.contentType).toBe(ADAPTIVE_CARD_CONTENT_TYPE);
    expect(card.content.type).toBe('AdaptiveCard');
    expect(card.content.actions).toEqual([{ type: 'Action.OpenUrl', title: 'Sign in', url: URL_ }]);
    expect(JSON.stringify(card.content.body)).toContain('as soon as you have signed in');
  });

  test('SSO disabled: no OAuthCard', () => {
    expect((signInActivity({ authorizeUrl: URL_, sso: { enabled: false, resource: 'api://botid-x' } }) as any).attachments).toHaveLength(1);
  });

  test('SSO enabled: OAuthCard with tokenExchangeResource and a signin button to the same URL', () => {
    const a = signInActivity({ authorizeUrl: URL_, sso: { enabled: true, resource: 'api://botid-app' } }) as any;
    expect(a.attachments).toHaveLength(2);
    const oauth = a.attachments[1];
    expect(oauth.contentType).toBe(OAUTH_CARD_CONTENT_TYPE);
    expect(oauth.content.connectionName).toBe(SSO_CONNECTION_NAME);
    expect(oauth.content.tokenExchangeResource.uri).toBe('api://botid-app');
    expect(oauth.content.tokenExchangeResource.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(oauth.content.buttons).toEqual([{ type: 'signin', title: 'Sign in', value: URL_ }]);
    const b = signInActivity({ authorizeUrl: URL_, sso: { enabled: true, resource: 'api://botid-app' } }) as any;
    expect(b.attachments[1].content.tokenExchangeResource.id).not.toBe(oauth.content.tokenExchangeResource.id);
  });

  test('sign-out confirmations', () => {
    expect((signedOutActivity(true) as any).text).toContain('signed out');
    expect((signedOutActivity(false) as any).text).toContain('not signed in');
  });
});
