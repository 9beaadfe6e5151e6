/**
 * The worker contract as a JSON Schema (schemas/worker-contract/v1.schema.json, shipped in the npm package for
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
    accessToken: { keyId: 'arn:aws:kms:eu-west-1:111111111111:key/abc', ciphertexts: ['AAAA', 'QUJD'], encryptionContext: { appId: 'app', purpose: 'access_token' } },
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

test('unknown fields are allowed within version 1 (the page says: ignore them)', () => {
  expect(workerContractSchemaErrors(mutate((e) => { e.newField = 1; e.message.newField = 'x'; }))).toEqual([]);
});

// Each bad event is refused by both: the schema and parseWorkerEvent (same rule, two homes for two audiences: the
// schema for workers in other languages, the parser for the TypeScript kit).
test.each<[string, (e: any) => void, RegExp]>([
  ['wrong type', (e) => { e.type = 'other'; }, /^\/type must be equal to constant/],
  ['version 2', (e) => { e.version = '2'; }, /^\/version must be equal to constant/],
  ['version as a number', (e) => { e.version = 1; }, /^\/version must be equal to constant/],
  ['resumed missing', (e) => { delete e.resumed; }, /must have required property 'resumed'/],
  ['receivedAt without a time zone', (e) => { e.receivedAt = '2026-11-23T10:00:00'; }, /^\/receivedAt must match pattern/],
  ['serviceUrl over plain http', (e) => { e.conversation.serviceUrl = 'http://smba.example.com/'; }, /^\/conversation\/serviceUrl must match pattern/],
  ['serviceUrl with credentials', (e) => { e.conversation.serviceUrl = 'https://u:p@smba.example.com/'; }, /^\/conversation\/serviceUrl must match pattern/],
  ['serviceUrl with a query', (e) => { e.conversation.serviceUrl = 'https://smba.example.com/?x=1'; }, /^\/conversation\/serviceUrl must match pattern/],
  ['empty conversation id', (e) => { e.conversation.conversation.id = ''; }, /^\/conversation\/conversation\/id must NOT have fewer than 1 characters/],
  ['no user', (e) => { delete e.conversation.user; }, /must have required property 'user'/],
  ['no message id', (e) => { delete e.message.id; }, /must have required property 'id'/],
  ['attachment without contentType', (e) => { e.message.attachments = [{ name: 'x' }]; }, /must have required property 'contentType'/],
  ['no ciphertexts', (e) => { e.token.ciphertexts = []; }, /^\/token\/ciphertexts must NOT have fewer than 1 items/],
  ['65 ciphertexts', (e) => { e.token.ciphertexts = Array(65).fill('AAAA'); }, /^\/token\/ciphertexts must NOT have more than 64 items/],
  ['ciphertext not base64', (e) => { e.token.ciphertexts = ['AA*A']; }, /^\/token\/ciphertexts\/0 must match pattern/],
  ['ciphertext of a wrong length', (e) => { e.token.ciphertexts = ['AAA']; }, /^\/token\/ciphertexts\/0 must/],
  ['purpose refresh_token', (e) => { e.token.encryptionContext.purpose = 'refresh_token'; }, /^\/token\/encryptionContext\/purpose must be equal to constant/],
  ['encryption context value not a string', (e) => { e.token.encryptionContext.appId = 1; }, /^\/token\/encryptionContext\/appId must be string/],
  ['scopes missing', (e) => { delete e.token.scopes; }, /must have required property 'scopes'/],
])('%s: refused by the schema and by parseWorkerEvent', (_name, change, schemaMessage) => {
  const bad = mutate(change);
  expect(workerContractSchemaErrors(bad)).toEqual(expect.arrayContaining([expect.stringMatching(schemaMessage)]));
  expect(() => parseWorkerEvent(bad)).toThrow();
});

test('attachments: required by the page and the schema; the TypeScript parser is lenient and reads a missing list as []', () => {
  const bad = mutate((e) => { delete e.message.attachments; });
  expect(workerContractSchemaErrors(bad)).toEqual(["/message must have required property 'attachments'"]);
  expect(parseWorkerEvent(bad).message.attachments).toEqual([]);
});

test('the schema file ships in the npm package', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const ignored = fs.readFileSync(path.join(root, '.npmignore'), 'utf8').split('\n');
  expect(ignored.filter((l) => /^\/?schemas/.test(l))).toEqual([]);
  expect(pkg.files).toBeUndefined(); // .npmignore decides; test/construct/package.test.ts lists the packed files
});
