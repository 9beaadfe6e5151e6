import {
  conversationReferenceOf,
  isSignOutCommand,
  MAX_BODY_BYTES,
  parseActivityBody,
  pendingEventOf,
  RequestError,
  textWithoutMentions,
  userKeyOf,
  validateActivity,
  type FunctionUrlEvent,
} from '../../lambda/receiver/activity';

const TENANT = '11111111-2222-3333-4444-555555555555';
const OID = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';

function activity(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'message',
    id: '1700000000001',
    serviceUrl: 'https://smba.trafficmanager.net/amer/',
    channelId: 'msteams',
    conversation: { id: 'a:1conv', conversationType: 'personal', tenantId: TENANT },
    from: { id: '29:1user', aadObjectId: OID, name: 'Ada' },
    recipient: { id: '28:app', name: 'Bot' },
    channelData: { tenant: { id: TENANT } },
    text: 'hello',
    locale: 'en-US',
    ...over,
  };
}

function event(body: string, over: Partial<FunctionUrlEvent> = {}): FunctionUrlEvent {
  return { rawPath: '/api/messages', headers: { 'content-type': 'application/json; charset=utf-8' }, body, isBase64Encoded: false, ...over };
}

function rejectsWith(fn: () => unknown, status: number, reason?: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(RequestError);
  expect((caught as RequestError).status).toBe(status);
  if (reason) expect((caught as RequestError).reason).toBe(reason);
}

describe('parseActivityBody', () => {
  test('accepts a JSON object', () => {
    expect(parseActivityBody(event(JSON.stringify(activity())))).toMatchObject({ type: 'message' });
  });
  test('accepts application/*+json and upper-case header names', () => {
    expect(parseActivityBody(event('{"a":1}', { headers: { 'Content-Type': 'application/vnd.x+json' } }))).toEqual({ a: 1 });
  });
  test('base64 body: 415', () => rejectsWith(() => parseActivityBody(event('eyJ9', { isBase64Encoded: true })), 415, 'base64_body'));
  test('wrong or missing content type: 415', () => {
    rejectsWith(() => parseActivityBody(event('{}', { headers: { 'content-type': 'text/plain' } })), 415, 'content_type');
    rejectsWith(() => parseActivityBody(event('{}', { headers: {} })), 415, 'content_type');
  });
  test('oversize: 413', () => rejectsWith(() => parseActivityBody(event(`{"t":"${'x'.repeat(MAX_BODY_BYTES)}"}`)), 413, 'body_too_large'));
  test('multi-byte characters count as bytes', () => {
    rejectsWith(() => parseActivityBody(event(`{"t":"${'é'.repeat(MAX_BODY_BYTES / 2 + 1)}"}`)), 413);
  });
  test('empty, invalid JSON, arrays and scalars: 400', () => {
    rejectsWith(() => parseActivityBody(event('')), 400, 'empty_body');
    rejectsWith(() => parseActivityBody(event('{"a":')), 400, 'invalid_json');
    rejectsWith(() => parseActivityBody(event('[1]')), 400, 'not_an_object');
    rejectsWith(() => parseActivityBody(event('null')), 400, 'not_an_object');
    rejectsWith(() => parseActivityBody(event('"x"')), 400, 'not_an_object');
  });
});

describe('validateActivity', () => {
  test('a Teams message', () => {
    const a = validateActivity(activity());
    expect(a).toMatchObject({ type: 'message', id: '1700000000001', tenantId: TENANT, from: { aadObjectId: OID } });
    expect(userKeyOf(a)).toEqual({ tenantId: TENANT, aadObjectId: OID });
  });
  test('GUIDs are normalized to lower case', () => {
    const a = validateActivity(activity({ from: { id: '29:1', aadObjectId: OID.toUpperCase() }, channelData: { tenant: { id: TENANT.toUpperCase() } } }));
    expect(userKeyOf(a)).toEqual({ tenantId: TENANT, aadObjectId: OID });
  });
  test.each([
    ['type', { type: undefined }, 'missing_type'],
    ['type not a string', { type: 5 }, 'missing_type'],
    ['serviceUrl', { serviceUrl: undefined }, 'missing_serviceUrl'],
    ['channelId', { channelId: '' }, 'missing_channelId'],
    ['conversation', { conversation: 'x' }, 'missing_conversation'],
    ['conversation id', { conversation: {} }, 'missing_conversation'],
    ['conversation id over 400 characters', { conversation: { id: `a:${'x'.repeat(399)}` } }, 'invalid_conversation_id'],
    ['conversation id not ASCII', { conversation: { id: 'a:1chat-ü' } }, 'invalid_conversation_id'],
    ['from', { from: undefined }, 'missing_from'],
    ['recipient', { recipient: { name: 'x' } }, 'missing_recipient'],
    ['message id', { id: undefined }, 'missing_id'],
    ['id with spaces', { id: 'a b' }, 'invalid_id'],
    ['id not a string', { id: 7 }, 'invalid_id'],
    ['aadObjectId', { from: { id: '29:1' } }, 'missing_aadObjectId'],
    ['aadObjectId not a GUID', { from: { id: '29:1', aadObjectId: 'x#y' } }, 'invalid_aadObjectId'],
    ['tenant', { channelData: {}, conversation: { id: 'c' } }, 'missing_tenant'],
    ['tenant not a GUID', { channelData: { tenant: { id: 'evil#tenant' } } }, 'invalid_tenant'],
    ['tenants disagree', { conversation: { id: 'c', tenantId: '99999999-2222-3333-4444-555555555555' } }, 'tenant_mismatch'],
    ['text not a string', { text: { a: 1 } }, 'invalid_text'],
  ])('missing or invalid %s: 400', (_name, over, reason) => {
    rejectsWith(() => validateActivity(activity(over as Record<string, unknown>)), 400, reason);
  });
  test('other activity types need neither id nor user', () => {
    const a = validateActivity(activity({ type: 'conversationUpdate', id: undefined, from: { id: '29:1' } }));
    expect(a.type).toBe('conversationUpdate');
  });
});

describe('conversation reference and pending event', () => {
  test('reference of a message', () => {
    expect(conversationReferenceOf(validateActivity(activity()))).toEqual({
      serviceUrl: 'https://smba.trafficmanager.net/amer/',
      channelId: 'msteams',
      conversation: { id: 'a:1conv', conversationType: 'personal', tenantId: TENANT },
      bot: { id: '28:app', name: 'Bot' },
      user: { id: '29:1user', aadObjectId: OID, name: 'Ada' },
      activityId: '1700000000001',
      locale: 'en-US',
    });
  });
  test('pending event: contract fields only, no channelData, no attachment content', () => {
    const a = validateActivity(activity({
      attachments: [{ contentType: 'text/html', content: '<b>secret</b>', name: 'n' }],
      channelData: { tenant: { id: TENANT }, extra: 'x' },
      value: { action: 'go' },
    }));
    const p = pendingEventOf(a, Date.UTC(2026, 10, 23, 10, 0, 0));
    expect(p.receivedAt).toBe('2026-11-23T10:00:00.000Z');
    expect(p.message).toMatchObject({ id: '1700000000001', text: 'hello', attachments: [{ contentType: 'text/html', name: 'n' }], value: { action: 'go' } });
    expect(JSON.stringify(p)).not.toContain('secret');
    expect(JSON.stringify(p)).not.toContain('channelData');
    expect(p.resumed).toBe(false);
  });
  test('a contract violation is a 400', () => {
    const a = validateActivity(activity({ serviceUrl: 'ftp://x/' }));
    rejectsWith(() => pendingEventOf(a, Date.now()), 400);
  });
});

describe('sign-out command', () => {
  const cmd = (text: string, over: Record<string, unknown> = {}) => isSignOutCommand(validateActivity(activity({ text, ...over })));
  test.each(['sign out', 'Sign Out', '  LOGOUT ', 'logout', 'log out', 'signout', 'sign-out', 'sign out.'])('%p signs out', (t) => {
    expect(cmd(t)).toBe(true);
  });
  test.each(['please sign out now', 'sign', 'hello', '', 'logouts'])('%p does not', (t) => {
    expect(cmd(t)).toBe(false);
  });
  test('with the bot @mention', () => {
    expect(cmd('<at>Bot</at> sign out')).toBe(true);
    expect(cmd('<at>Bot</at>&nbsp;logout', {
      entities: [{ type: 'mention', text: '<at>Bot</at>', mentioned: { id: '28:app', name: 'Bot' } }],
    })).toBe(true);
  });
  test('mention entity text removed', () => {
    const a = validateActivity(activity({
      text: 'Bot sign out',
      entities: [{ type: 'mention', text: 'Bot', mentioned: { id: '28:app' } }],
    }));
    expect(textWithoutMentions(a)).toBe('sign out');
  });
});
