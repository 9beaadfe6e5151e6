/**
 * The worker contract as a JSON Schema (schemas/worker-contract/v2.schema.json, shipped in the npm package for
 * workers in other languages) agrees with the TypeScript implementation (lambda/shared/contract.ts) and the normative
 * page (docs/worker-contract.md).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseWorkerEvent, pendingEventFromActivity, toWorkerEvent, WorkerEvent } from '../../lambda/shared/contract';
import { workerContractSchemaErrors } from '../support/worker-contract-schema';

const root = path.join(__dirname, '..', '..');

function sampleEvent(): WorkerEvent {
  const pending = pendingEventFromActivity({
    type: 'message',
    id: '1700000000001',
    timestamp: '2026-11-23T10:00:00.000Z',
    serviceUrl: 'https://smba.trafficmanager.net/amer/',
    channelId: 'msteams',
    locale: 'en-US',
    text: 'hello',
    textFormat: 'plain',
    from: { id: '29:1user', aadObjectId: '6f1c2d3e-4a5b-4c6d-8e7f-901234567890', name: 'Ada' },
    recipient: { id: '28:app', name: 'Bot' },
    conversation: { id: '19:abc@thread.tacv2;messageid=1700000000000', conversationType: 'channel', tenantId: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee' },
    channelData: { tenant: { id: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee' } },
    attachments: [{ contentType: 'image/png', name: 'a.png', contentUrl: 'https://example.com/a.png' }],
    value: { submitted: true },
  }, { receivedAt: new Date('2026-11-23T10:00:01.000Z') });
  return toWorkerEvent(pending, {
    accessToken: {
      keyId: 'arn:aws:kms:eu-west-1:111111111111:key/abc',
      encryptedKey: 'AQIDBAUG',
      iv: 'AAECAwQFBgcICQoL',
      ciphertext: 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYX',
      encryptionContext: { appId: 'app', purpose: 'access_token' },
    },
    expiresAt: 1_795_000_000,
    scopes: 'User.Read',
  }, { resumed: false });
}

function mutate(fn: (e: any) => void): unknown {
  const e: any = JSON.parse(JSON.stringify(sampleEvent()));
  fn(e);
  return e;
}

test('an event the receiver builds (pendingEventFromActivity + toWorkerEvent) is valid under the schema', () => {
  const event = JSON.parse(JSON.stringify(sampleEvent()));
  expect(workerContractSchemaErrors(event)).toEqual([]);
  expect(parseWorkerEvent(event)).toEqual(event);
});

test('the example event of docs/worker-contract.md is valid under the schema', () => {
  const doc = fs.readFileSync(path.join(root, 'docs', 'worker-contract.md'), 'utf8');
  const example = JSON.parse(doc.match(/## The event\n\n```json\n([\s\S]*?)```/)![1].replace(/AQICAHh…/g, 'AQICAHh='));
  expect(workerContractSchemaErrors(example)).toEqual([]);
});

test('unknown fields are allowed within version 2 (the page says: ignore them)', () => {
  expect(workerContractSchemaErrors(mutate((e) => { e.newField = 1; e.message.newField = 'x'; }))).toEqual([]);
});

// Each bad event is refused by both: the schema and parseWorkerEvent (same rule, two homes for two audiences: the
// schema for workers in other languages, the parser for the TypeScript kit).
test.each<[string, (e: any) => void, RegExp]>([
  ['wrong type', (e) => { e.type = 'other'; }, /^\/type must be equal to constant/],
  ['version 1', (e) => { e.version = '1'; }, /^\/version must be equal to constant/],
  ['version as a number', (e) => { e.version = 1; }, /^\/version must be equal to constant/],
  ['resumed missing', (e) => { delete e.resumed; }, /must have required property 'resumed'/],
  ['receivedAt without a time zone', (e) => { e.receivedAt = '2026-11-23T10:00:00'; }, /^\/receivedAt must match pattern/],
  ['serviceUrl over plain http', (e) => { e.conversation.serviceUrl = 'http://smba.example.com/'; }, /^\/conversation\/serviceUrl must match pattern/],
  ['serviceUrl with credentials', (e) => { e.conversation.serviceUrl = 'https://u:p@smba.example.com/'; }, /^\/conversation\/serviceUrl must match pattern/],
  ['serviceUrl with a query', (e) => { e.conversation.serviceUrl = 'https://smba.example.com/?x=1'; }, /^\/conversation\/serviceUrl must match pattern/],
  ['empty conversation id', (e) => { e.conversation.conversation.id = ''; }, /^\/conversation\/conversation\/id must NOT have fewer than 1 characters/],
  ['no user', (e) => { delete e.conversation.user; }, /must have required property 'user'/],
  ['no message id', (e) => { delete e.message.id; }, /must have required property 'id'/],
  ['no attachments', (e) => { delete e.message.attachments; }, /^\/message must have required property 'attachments'/],
  ['attachment without contentType', (e) => { e.message.attachments = [{ name: 'x' }]; }, /must have required property 'contentType'/],
  ['a version 1 token (parts)', (e) => { e.token.ciphertexts = [e.token.ciphertext]; delete e.token.ciphertext; }, /must have required property 'ciphertext'/],
  ['no encryptedKey', (e) => { delete e.token.encryptedKey; }, /must have required property 'encryptedKey'/],
  ['encryptedKey not base64', (e) => { e.token.encryptedKey = 'AA*A'; }, /^\/token\/encryptedKey must match pattern/],
  ['encryptedKey above 8192 characters', (e) => { e.token.encryptedKey = 'A'.repeat(8196); }, /^\/token\/encryptedKey must NOT have more than 8192 characters/],
  ['iv of 16 bytes', (e) => { e.token.iv = 'AAECAwQFBgcICQoLDA0ODw=='; }, /^\/token\/iv must match pattern/],
  ['ciphertext not base64', (e) => { e.token.ciphertext = 'AA*AAAAAAAAAAAAAAAAAAAAA'; }, /^\/token\/ciphertext must match pattern/],
  ['ciphertext of a wrong length', (e) => { e.token.ciphertext = 'AAAAAAAAAAAAAAAAAAAAAAA'; }, /^\/token\/ciphertext must/],
  ['ciphertext shorter than a tag', (e) => { e.token.ciphertext = 'AAECAwQFBgcICQoLDA0O'; }, /^\/token\/ciphertext must NOT have fewer than 24 characters/],
  ['ciphertext above 256 KiB', (e) => { e.token.ciphertext = 'A'.repeat(262_148); }, /^\/token\/ciphertext must NOT have more than 262144 characters/],
  ['purpose refresh_token', (e) => { e.token.encryptionContext.purpose = 'refresh_token'; }, /^\/token\/encryptionContext\/purpose must be equal to constant/],
  ['no purpose', (e) => { delete e.token.encryptionContext.purpose; }, /^\/token\/encryptionContext must have required property 'purpose'/],
  ['encryption context value not a string', (e) => { e.token.encryptionContext.appId = 1; }, /^\/token\/encryptionContext\/appId must be string/],
  ['scopes missing', (e) => { delete e.token.scopes; }, /must have required property 'scopes'/],
])('%s: refused by the schema and by parseWorkerEvent', (_name, change, schemaMessage) => {
  const bad = mutate(change);
  expect(workerContractSchemaErrors(bad)).toEqual(expect.arrayContaining([expect.stringMatching(schemaMessage)]));
  expect(() => parseWorkerEvent(bad)).toThrow();
});

test('version 1\'s schema stays as shipped (frozen): it describes the token in parts', () => {
  const v1 = JSON.parse(fs.readFileSync(path.join(root, 'schemas', 'worker-contract', 'v1.schema.json'), 'utf8'));
  expect(v1.properties.version).toEqual({ const: '1' });
  expect(v1.properties.token.required).toContain('ciphertexts');
});

test('the schema file ships in the npm package', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const ignored = fs.readFileSync(path.join(root, '.npmignore'), 'utf8').split('\n');
  expect(ignored.filter((l) => /^\/?schemas/.test(l))).toEqual([]);
  expect(pkg.files).toBeUndefined(); // .npmignore decides; test/construct/package.test.ts lists the packed files
});
