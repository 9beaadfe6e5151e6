import {
  ContractError,
  parsePendingEvent,
  parseWorkerEvent,
  pendingEventFromActivity,
  toWorkerEvent,
  WorkerEvent,
} from '../../lambda/shared/contract';

function sampleEvent(): WorkerEvent {
  return {
    type: 'teams-delegated-auth-bot.message',
    version: '2',
    resumed: false,
    receivedAt: '2026-11-23T10:00:00.000Z',
    conversation: {
      serviceUrl: 'https://smba.trafficmanager.net/amer/',
      channelId: 'msteams',
      conversation: { id: '19:abc@thread.tacv2;messageid=1700000000000', conversationType: 'channel', tenantId: 'tid' },
      bot: { id: '28:app', name: 'Bot' },
      user: { id: '29:1user', aadObjectId: 'oid', name: 'Ada' },
      activityId: '1700000000001',
      locale: 'en-US',
    },
    message: { id: '1700000000001', text: 'hi', textFormat: 'plain', attachments: [], value: { a: 1 } },
    token: {
      keyId: 'arn:aws:kms:eu-west-1:111111111111:key/abc',
      encryptedKey: 'AQIDBAUG',
      iv: 'AAECAwQFBgcICQoL',
      ciphertext: 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYX',
      encryptionContext: { appId: 'app', tenantId: 'tid', aadObjectId: 'oid', purpose: 'access_token' },
      expiresAt: '2026-11-23T11:00:00.000Z',
      scopes: 'User.Read',
    },
  };
}

function mutate(fn: (e: any) => void): unknown {
  const e: any = JSON.parse(JSON.stringify(sampleEvent()));
  fn(e);
  return e;
}

describe('parseWorkerEvent', () => {
  test('accepts a valid event and returns an equal clean copy', () => {
    const e = sampleEvent();
    expect(parseWorkerEvent(JSON.parse(JSON.stringify(e)))).toEqual(e);
  });

  test('drops unknown fields (additive changes) at every level', () => {
    const parsed = parseWorkerEvent(mutate((e) => {
      e.extra = 1; e.conversation.raw = 'x'; e.message.channelData = { a: 1 }; e.token.refreshToken = 'nope';
      e.message.attachments = [{ contentType: 'text/html', content: '<b>x</b>' }];
    }));
    expect(parsed).not.toHaveProperty('extra');
    expect(parsed.conversation).not.toHaveProperty('raw');
    expect(parsed.message).not.toHaveProperty('channelData');
    expect(parsed.token).not.toHaveProperty('refreshToken');
    expect(parsed.message.attachments).toEqual([{ contentType: 'text/html' }]);
  });

  test('loopback http serviceUrl is accepted (local tests)', () => {
    for (const u of ['http://127.0.0.1:3978/', 'http://localhost:1/x', 'http://[::1]:8/']) {
      expect(parseWorkerEvent(mutate((e) => { e.conversation.serviceUrl = u; })).conversation.serviceUrl).toBe(u);
    }
  });

  const bad: Array<[string, (e: any) => void, RegExp]> = [
    ['not an object', (e) => { for (const k of Object.keys(e)) delete e[k]; e.length = 0; }, /type must be/],
    ['wrong type', (e) => { e.type = 'other'; }, /^worker event: type must be "teams-delegated-auth-bot.message", got "other"/],
    ['version 1 (the token in parts)', (e) => { e.version = '1'; }, /version "1" is not supported: this worker understands version "2"/],
    ['version 3', (e) => { e.version = '3'; }, /version "3" is not supported: this worker understands version "2"/],
    ['numeric version', (e) => { e.version = 1; }, /version a number is not supported/],
    ['resumed missing', (e) => { delete e.resumed; }, /resumed is required/],
    ['resumed string', (e) => { e.resumed = 'false'; }, /resumed must be a boolean, got a string/],
    ['receivedAt not a date', (e) => { e.receivedAt = 'yesterday'; }, /receivedAt must be an ISO 8601/],
    ['receivedAt without zone', (e) => { e.receivedAt = '2026-11-23T10:00:00'; }, /receivedAt must be an ISO 8601/],
    ['conversation missing', (e) => { delete e.conversation; }, /^worker event: conversation is required$/],
    ['serviceUrl http', (e) => { e.conversation.serviceUrl = 'http://smba.trafficmanager.net/amer/'; }, /conversation.serviceUrl must use https/],
    ['serviceUrl relative', (e) => { e.conversation.serviceUrl = '/amer/'; }, /conversation.serviceUrl must be an absolute URL/],
    ['serviceUrl credentials', (e) => { e.conversation.serviceUrl = 'https://a:b@smba.trafficmanager.net/'; }, /must not contain credentials/],
    ['serviceUrl query', (e) => { e.conversation.serviceUrl = 'https://smba.trafficmanager.net/?x=1'; }, /must not contain a query/],
    ['serviceUrl file', (e) => { e.conversation.serviceUrl = 'file:///etc/passwd'; }, /must use https \(got file\)/],
    ['channelId empty', (e) => { e.conversation.channelId = ''; }, /conversation.channelId must not be empty/],
    ['conversation id number', (e) => { e.conversation.conversation.id = 5; }, /conversation.conversation.id must be a string, got a number/],
    ['bot id missing', (e) => { delete e.conversation.bot.id; }, /conversation.bot.id is required/],
    ['user missing', (e) => { delete e.conversation.user; }, /conversation.user is required/],
    ['isGroup string', (e) => { e.conversation.conversation.isGroup = 'yes'; }, /isGroup must be a boolean/],
    ['message id missing', (e) => { delete e.message.id; }, /message.id is required/],
    ['text not string', (e) => { e.message.text = 42; }, /message.text must be a string/],
    ['attachments missing', (e) => { delete e.message.attachments; }, /message.attachments is required/],
    ['attachments null', (e) => { e.message.attachments = null; }, /message.attachments must be an array, got null/],
    ['attachments not array', (e) => { e.message.attachments = {}; }, /message.attachments must be an array, got an object/],
    ['attachment without contentType', (e) => { e.message.attachments = [{ name: 'x' }]; }, /message.attachments\[0\].contentType is required/],
    ['token missing', (e) => { delete e.token; }, /token is required/],
    ['keyId empty', (e) => { e.token.keyId = ''; }, /token.keyId must not be empty/],
    ['a version 1 token (parts) in version 2', (e) => { e.token.ciphertexts = [e.token.ciphertext]; delete e.token.ciphertext; }, /token.ciphertext is required/],
    ['encryptedKey missing', (e) => { delete e.token.encryptedKey; }, /token.encryptedKey is required/],
    ['encryptedKey not base64', (e) => { e.token.encryptedKey = 'no spaces!'; }, /token.encryptedKey must be standard base64/],
    ['encryptedKey too long', (e) => { e.token.encryptedKey = 'A'.repeat(8196); }, /token.encryptedKey is longer than 8192/],
    ['iv missing', (e) => { delete e.token.iv; }, /token.iv is required/],
    ['iv of 16 bytes', (e) => { e.token.iv = 'AAECAwQFBgcICQoLDA0ODw=='; }, /token.iv is longer than 16 characters/],
    ['iv of 9 bytes', (e) => { e.token.iv = 'AAECAwQFBgcI'; }, /token.iv must be the standard base64 of 12 bytes/],
    ['ciphertext missing', (e) => { delete e.token.ciphertext; }, /token.ciphertext is required/],
    ['ciphertext empty', (e) => { e.token.ciphertext = ''; }, /token.ciphertext must not be empty/],
    ['ciphertext not base64', (e) => { e.token.ciphertext = 'no spaces!'; }, /token.ciphertext must be standard base64/],
    ['ciphertext base64url', (e) => { e.token.ciphertext = 'ab_-'; }, /must be standard base64/],
    ['ciphertext shorter than the tag', (e) => { e.token.ciphertext = 'AAECAwQFBgcICQoLDA0ODw=='; }, /token.ciphertext must decode to at least 17 bytes/],
    ['ciphertext above 256 KiB', (e) => { e.token.ciphertext = 'A'.repeat(262_148); }, /token.ciphertext is longer than 262144/],
    ['encryptionContext value number', (e) => { e.token.encryptionContext.tenantId = 1; }, /token.encryptionContext.tenantId must be a string/],
    ['encryptionContext empty', (e) => { e.token.encryptionContext = {}; }, /token.encryptionContext must not be empty/],
    ['refresh token purpose', (e) => { e.token.encryptionContext.purpose = 'refresh_token'; }, /purpose must be "access_token"/],
    ['purpose missing', (e) => { delete e.token.encryptionContext.purpose; }, /token.encryptionContext.purpose is required/],
    ['expiresAt missing', (e) => { delete e.token.expiresAt; }, /token.expiresAt is required/],
    ['scopes missing', (e) => { delete e.token.scopes; }, /token.scopes is required/],
  ];
  test.each(bad)('rejects: %s', (_name, fn, message) => {
    const input = _name === 'not an object' ? [] : mutate(fn);
    let err: unknown;
    try { parseWorkerEvent(input); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ContractError);
    if (_name === 'not an object') expect((err as Error).message).toMatch(/must be an object, got an array/);
    else expect((err as Error).message).toMatch(message);
  });

  test('null / string input', () => {
    expect(() => parseWorkerEvent(null)).toThrow('worker event: must be an object, got null');
    expect(() => parseWorkerEvent('{}')).toThrow('must be an object, got a string');
  });

  test('error messages never contain the message text or ciphertexts', () => {
    const secretText = 'my secret message text';
    for (const fn of [(e: any) => { e.message.id = 1; }, (e: any) => { e.token.iv = 7; }]) {
      try {
        parseWorkerEvent(mutate((e) => { e.message.text = secretText; e.token.ciphertext = 'U0VDUkVUQ0lQSEVSU0VDUkVU'; fn(e); }));
        throw new Error('no error');
      } catch (err) {
        expect((err as Error).message).not.toContain(secretText);
        expect((err as Error).message).not.toContain('U0VDUkVUQ0lQSEVSU0VDUkVU');
      }
    }
  });
});

describe('toWorkerEvent / parsePendingEvent', () => {
  test('builds the token part from a stored token; no refresh token', () => {
    const { token: _t, ...pending } = sampleEvent();
    const stored = {
      user: { tenantId: 'tid', aadObjectId: 'oid' },
      accessToken: {
        keyId: 'arn:k',
        encryptedKey: 'AAAA',
        iv: 'AAECAwQFBgcICQoL',
        ciphertext: 'AAECAwQFBgcICQoLDA0ODxAREhMU',
        encryptionContext: { purpose: 'access_token', tenantId: 'tid' },
      },
      refreshToken: { keyId: 'arn:k', encryptedKey: 'QUJD', iv: 'QUJDQUJDQUJDQUJD', ciphertext: 'QUJDQUJDQUJDQUJDQUJDQUJDQUJD', encryptionContext: { purpose: 'refresh_token' } },
      expiresAt: 1_795_000_000,
      scopes: 'User.Read Mail.Read',
      updatedAt: 1,
    };
    const event = toWorkerEvent(pending, stored, { resumed: true });
    expect(event.resumed).toBe(true);
    expect(event.token).toEqual({
      keyId: 'arn:k',
      encryptedKey: 'AAAA',
      iv: 'AAECAwQFBgcICQoL',
      ciphertext: 'AAECAwQFBgcICQoLDA0ODxAREhMU',
      encryptionContext: { purpose: 'access_token', tenantId: 'tid' },
      expiresAt: new Date(1_795_000_000_000).toISOString(),
      scopes: 'User.Read Mail.Read',
    });
    expect(JSON.stringify(event)).not.toContain('QUJD');
    expect(parseWorkerEvent(JSON.parse(JSON.stringify(event)))).toEqual(event);
  });

  test('parsePendingEvent rejects a token', () => {
    expect(() => parsePendingEvent(sampleEvent())).toThrow('token must not be present in a pending event');
    const { token: _t, ...pending } = sampleEvent();
    expect(parsePendingEvent(pending)).toEqual(pending);
  });

  test('parsePendingEvent reads a pending event kept under version 1 (no token: the versions differ only there) as version 2', () => {
    const { token: _t, ...pending } = sampleEvent();
    expect(parsePendingEvent({ ...pending, version: '1' })).toEqual(pending);
    expect(() => parsePendingEvent({ ...pending, version: '3' })).toThrow(/version "3" is not supported/);
    // a worker event of version 1 is refused: its token is in parts
    expect(() => parseWorkerEvent({ ...sampleEvent(), version: '1' })).toThrow(/version "1" is not supported/);
  });
});

describe('pendingEventFromActivity', () => {
  const activity = {
    type: 'message',
    id: '1700000000001',
    timestamp: '2026-11-23T10:00:00.000Z',
    serviceUrl: 'https://smba.trafficmanager.net/amer/',
    channelId: 'msteams',
    locale: 'en-US',
    text: 'hello <b>x</b>',
    textFormat: 'plain',
    from: { id: '29:1user', aadObjectId: 'oid', name: 'Ada' },
    recipient: { id: '28:app', name: 'Bot' },
    conversation: { id: 'a:1xyz', conversationType: 'personal' },
    channelData: { tenant: { id: 'tid' }, secret: 'x' },
    attachments: [{ contentType: 'text/html', content: '<div>hello</div>' }, { contentType: 'application/vnd.microsoft.teams.file.download.info', name: 'f.txt', contentUrl: 'https://contoso.sharepoint.com/f.txt' }],
    entities: [{ type: 'clientInfo' }],
    value: { submitted: true },
  };
  test('copies only contract fields; tenant from channelData', () => {
    const e = pendingEventFromActivity(activity, { receivedAt: new Date('2026-11-23T10:00:01.000Z') });
    expect(e).toEqual({
      type: 'teams-delegated-auth-bot.message',
      version: '2',
      resumed: false,
      receivedAt: '2026-11-23T10:00:01.000Z',
      conversation: {
        serviceUrl: 'https://smba.trafficmanager.net/amer/',
        channelId: 'msteams',
        conversation: { id: 'a:1xyz', conversationType: 'personal', tenantId: 'tid' },
        bot: { id: '28:app', name: 'Bot' },
        user: { id: '29:1user', aadObjectId: 'oid', name: 'Ada' },
        activityId: '1700000000001',
        locale: 'en-US',
      },
      message: {
        id: '1700000000001',
        text: 'hello <b>x</b>',
        textFormat: 'plain',
        locale: 'en-US',
        timestamp: '2026-11-23T10:00:00.000Z',
        attachments: [{ contentType: 'text/html' }, { contentType: 'application/vnd.microsoft.teams.file.download.info', name: 'f.txt', contentUrl: 'https://contoso.sharepoint.com/f.txt' }],
        value: { submitted: true },
      },
    });
    expect(JSON.stringify(e)).not.toContain('secret');
    expect(JSON.stringify(e)).not.toContain('<div>');
  });
  test('invalid activity → ContractError', () => {
    expect(() => pendingEventFromActivity({ ...activity, id: undefined }, { receivedAt: '2026-11-23T10:00:01.000Z' })).toThrow(ContractError);
    expect(() => pendingEventFromActivity({ ...activity, serviceUrl: 'http://evil.example/' }, { receivedAt: '2026-11-23T10:00:01.000Z' })).toThrow(/https/);
  });
});
