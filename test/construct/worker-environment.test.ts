/**
 * Issue 11 points 8 and 11, construct side: ids in one spelling (lower case) in the environment, the IAM conditions
 * and the outputs whatever case the props use; every endpoint written resolved into every worker's environment.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { botStack, functionRoleId, logicalId, resourcesOfType, roleStatements, TENANT_ID } from './helpers';
import { BotCloud } from '../../src';
import { ENDPOINT_ENV, ENV } from '../../src/private/env';

const APP_ID = 'abcdef01-2345-6789-abcd-ef0123456789';
const OTHER_TENANT = '0f0f0f0f-aaaa-bbbb-cccc-0123456789ab';

function functionEnv(template: ReturnType<typeof botStack>['template'], prefix: string): Record<string, unknown> {
  return template.toJSON().Resources[logicalId(template, 'AWS::Lambda::Function', prefix)].Properties.Environment.Variables;
}

function kmsConditions(template: ReturnType<typeof botStack>['template'], prefix: string): any[] {
  const role = functionRoleId(template, logicalId(template, 'AWS::Lambda::Function', prefix));
  return roleStatements(template, role)
    .filter((st) => st.Condition?.StringEquals?.['kms:EncryptionContext:appId'] !== undefined)
    .map((st) => st.Condition.StringEquals);
}

test('upper-case appId, tenantId and allowedTenantIds: lower case in env, KMS IAM conditions and outputs', () => {
  const { bot, template } = botStack({
    appId: APP_ID.toUpperCase(),
    tenantId: TENANT_ID.toUpperCase(),
    allowedTenantIds: [TENANT_ID.toUpperCase(), OTHER_TENANT.toUpperCase(), OTHER_TENANT],
  });
  expect(bot.appId).toBe(APP_ID);
  for (const prefix of ['BotReceiver', 'BotWorker']) {
    const env = functionEnv(template, prefix);
    expect(env[ENV.APP_ID]).toBe(APP_ID);
    expect(env[ENV.TENANT_ID]).toBe(TENANT_ID);
    expect(env[ENV.ALLOWED_TENANT_IDS]).toBe(`${TENANT_ID},${OTHER_TENANT}`); // each once
    const conditions = kmsConditions(template, prefix);
    expect(conditions.length).toBeGreaterThan(0);
    for (const c of conditions) {
      expect(c['kms:EncryptionContext:appId']).toBe(APP_ID);
      expect(c['kms:EncryptionContext:tenantId']).toEqual([TENANT_ID, OTHER_TENANT]);
    }
  }
  expect(bot.workerEnvironment[ENV.TENANT_ID]).toBe(TENANT_ID);
  const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
  const appIdOutput = Object.entries(outputs).find(([k]) => k.startsWith('BotAppId'));
  expect(appIdOutput?.[1].Value).toBe(APP_ID);
  // no upper-case spelling of an id anywhere in the template
  const json = JSON.stringify(template.toJSON());
  for (const id of [APP_ID, TENANT_ID, OTHER_TENANT]) expect(json.includes(id.toUpperCase())).toBe(false);
});

test('every endpoint is written resolved into the receiver, the default worker and a custom worker', () => {
  const cloud = BotCloud.US_GOV;
  const expected = (overrides: Record<string, string | string[]> = {}): Record<string, string> =>
    Object.fromEntries(ENDPOINT_ENV.map(({ key, env }) => {
      const v = overrides[key] ?? cloud[key];
      return [env, typeof v === 'string' ? v : v.join(',')];
    }));
  const { template, bot } = botStack({ cloud });
  for (const prefix of ['BotReceiver', 'BotWorker']) expect(functionEnv(template, prefix)).toMatchObject(expected());
  expect(bot.workerEnvironment).toMatchObject(expected());

  const graphBaseUrl = 'https://graph.example.test';
  const { template: t2 } = botStack({ cloud, endpoints: { graphBaseUrl } }, (stack) => ({
    worker: new lambda.Function(stack, 'MyWorker', {
      runtime: lambda.Runtime.PYTHON_3_12, handler: 'worker.handler', code: lambda.Code.fromInline('def handler(e, c): pass'),
    }),
  }));
  const mine = resourcesOfType(t2, 'AWS::Lambda::Function').find(([id]) => id.startsWith('MyWorker'))!;
  expect(mine[1].Properties.Environment.Variables).toMatchObject(expected({ graphBaseUrl }));
  expect(mine[1].Properties.Environment.Variables[ENV.GRAPH_BASE_URL]).toBe(graphBaseUrl);
});

test('the Python example reads only variables the construct writes into every worker', () => {
  const source = readFileSync(path.join(__dirname, '../../examples/python-worker/worker.py'), 'utf8');
  const read = [...source.matchAll(/os\.environ(?:\.get\(|\[)"(TDAB_[A-Z_]+)"/g)].map((m) => m[1]);
  expect(read).toEqual(expect.arrayContaining([ENV.GRAPH_BASE_URL, ENV.ENTRA_AUTHORITY, ENV.BOT_CONNECTOR_SCOPE, ENV.SERVICE_URL_HOSTS]));
  const { bot } = botStack({ cloud: BotCloud.CHINA });
  for (const name of read) expect(Object.keys(bot.workerEnvironment)).toContain(name);
  // no cloud table in the example: no public-cloud host as a default
  expect(source).not.toMatch(/graph\.microsoft\.com|login\.microsoftonline\.com|api\.botframework\.com|smba\.trafficmanager\.net/);
});
