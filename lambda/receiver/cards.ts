import { randomUUID } from 'node:crypto';

/**
 * Bot Framework activities the receiver posts: the sign-in prompt and short confirmations.
 */

/** `connectionName` the OAuthCard carries (no Azure Bot OAuth connection is used; Teams echoes it back). */
export const SSO_CONNECTION_NAME = 'TeamsDelegatedAuthBot';

/** Adaptive Card attachment content type. */
export const ADAPTIVE_CARD_CONTENT_TYPE = 'application/vnd.microsoft.card.adaptive';
/** OAuthCard attachment content type. */
export const OAUTH_CARD_CONTENT_TYPE = 'application/vnd.microsoft.card.oauth';

/** Options of the sign-in prompt. */
export interface SignInCardOptions {
  /** The Entra authorize URL (state, PKCE challenge and nonce inside). */
  readonly authorizeUrl: string;
  /** Teams SSO: when enabled, an OAuthCard with `tokenExchangeResource` is attached too. */
  readonly sso?: { readonly enabled: boolean; readonly resource: string };
  /** Id of `tokenExchangeResource` (default: a random UUID). */
  readonly exchangeId?: string;
  /** Heading and explanation override (e.g. after an SSO failure). */
  readonly title?: string;
  readonly text?: string;
}

/** Default explanation: the user's message(s) will be answered after they sign in (told once per pending sign-in). */
export const SIGN_IN_TEXT = 'To answer you, I need to act on your behalf in Microsoft 365. Please sign in: I will answer your message '
  + 'as soon as you have signed in. Anything else you send meanwhile is kept and answered too.';

/**
 * The sign-in prompt: an Adaptive Card with `Action.OpenUrl` to the authorize URL; with SSO enabled also an OAuthCard
 * whose `tokenExchangeResource` lets Teams exchange a token silently (its sign-in button opens the same URL).
 */
export function signInActivity(opts: SignInCardOptions): Record<string, unknown> {
  const title = opts.title ?? 'Sign in to continue';
  const text = opts.text ?? SIGN_IN_TEXT;
  const attachments: Array<Record<string, unknown>> = [{
    contentType: ADAPTIVE_CARD_CONTENT_TYPE,
    content: {
      type: 'AdaptiveCard',
      $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
      version: '1.4',
      body: [
        { type: 'TextBlock', text: title, weight: 'Bolder', size: 'Medium', wrap: true },
        { type: 'TextBlock', text, wrap: true },
      ],
      actions: [{ type: 'Action.OpenUrl', title: 'Sign in', url: opts.authorizeUrl }],
    },
  }];
  if (opts.sso?.enabled) {
    attachments.push({
      contentType: OAUTH_CARD_CONTENT_TYPE,
      content: {
        text: title,
        connectionName: SSO_CONNECTION_NAME,
        tokenExchangeResource: { id: opts.exchangeId ?? randomUUID(), uri: opts.sso.resource },
        buttons: [{ type: 'signin', title: 'Sign in', value: opts.authorizeUrl }],
      },
    });
  }
  return { type: 'message', summary: title, attachments };
}

/** A plain text message. */
export function textActivity(text: string): Record<string, unknown> {
  return { type: 'message', text, textFormat: 'plain' };
}

/** Confirmation of "sign out". */
export function signedOutActivity(hadTokens: boolean): Record<string, unknown> {
  return textActivity(hadTokens
    ? 'You are signed out: I have deleted your stored sign-in. Send me a message whenever you want to sign in again.'
    : 'You were not signed in, so there was nothing to delete. Send me a message whenever you want to sign in.');
}
