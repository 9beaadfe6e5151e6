/**
 * The `assistant` prop: the assistant bundle as the worker, its environment, the sign-in scopes of its tools, and IAM
 * that names exactly the model or inference profile (and the foundation models behind it), the guardrail and the
 * knowledge base.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { APP_ID, TENANT_ID, evaluate, functionRoleId, logicalId, resourcesOfType, roleStatements } from './helpers';
import { AssistantOptions, AssistantTool, TeamsDelegatedAuthBot, TeamsDelegatedAuthBotProps } from '../../src';

const ACCOUNT = '123456789012';
const HAIKU = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const INVOKE = ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream'];

function synth(assistant: AssistantOptions, extra: Partial<TeamsDelegatedAuthBotProps> = {}, region = 'us-east-1') {
  const app = new App();
  const stack = new Stack(app, 'S', { env: { account: ACCOUNT, region } });
  const bot = new TeamsDelegatedAuthBot(stack, 'Bot', { appId: APP_ID, tenantId: TENANT_ID, assistant, ...extra });
  const template = Template.fromStack(stack);
  const workerId = logicalId(template, 'AWS::Lambda::Function', 'BotWorker');
  const worker = template.toJSON().Resources[workerId];
  return { stack, bot, template, worker, statements: roleStatements(template, functionRoleId(template, workerId)) };
}

/** The Bedrock statements, with the partition resolved (the stack's `AWS::Partition`). */
const bedrockStatements = (statements: any[]) => statements
  .filter((s) => [s.Action].flat().some((a: string) => a.startsWith('bedrock:')))
  .map((s) => evaluate(s, { 'AWS::Partition': 'aws' }));
const fm = (region: string, model = HAIKU) => `arn:aws:bedrock:${region}::foundation-model/${model}`;

describe('the assistant worker function', () => {
  const { worker, template } = synth({ modelId: HAIKU });

  test('is the assistant bundle, with streaming-sized timeout and memory, JSON logs, and the worker environment', () => {
    const p = worker.Properties;
    expect(p.Description).toMatch(/assistant: answers with an Amazon Bedrock model/);
    expect(p.Timeout).toBe(300);
    expect(p.MemorySize).toBe(1024);
    expect(p.LoggingConfig).toMatchObject({ LogFormat: 'JSON' });
    expect(p.Environment.Variables).toMatchObject({
      TDAB_APP_ID: APP_ID,
      TDAB_ASSISTANT_MODEL_ID: HAIKU,
      TDAB_ASSISTANT_MODEL_REGION: 'us-east-1',
      TDAB_ASSISTANT_TOOLS: 'profile,calendar,mail',
      TDAB_ASSISTANT_MEMORY_TURNS: '10',
      TDAB_GRAPH_SCOPES: 'User.Read Calendars.Read Mail.Read',
    });
    for (const unset of ['TDAB_ASSISTANT_SYSTEM_PROMPT', 'TDAB_ASSISTANT_TEMPERATURE', 'TDAB_ASSISTANT_KNOWLEDGE_BASE_ID', 'TDAB_ASSISTANT_GUARDRAIL_ID']) {
      expect(p.Environment.Variables[unset]).toBeUndefined();
    }
    // Its log group is its own, named after the bundle.
    const logGroup = template.toJSON().Resources[p.LoggingConfig.LogGroup.Ref];
    expect(logGroup.Properties.LogGroupName).toMatch(/\/assistant$/);
  });

  test('keeps the default worker\'s failure queue and async settings; the receiver invokes it', () => {
    template.resourceCountIs('AWS::SQS::Queue', 1);
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 });
  });

  test('the receiver asks for the tools\' scopes at sign-in but gets none of the assistant settings', () => {
    const receiver = template.toJSON().Resources[logicalId(template, 'AWS::Lambda::Function', 'BotReceiver')];
    expect(receiver.Properties.Environment.Variables.TDAB_GRAPH_SCOPES).toBe('User.Read Calendars.Read Mail.Read');
    expect(Object.keys(receiver.Properties.Environment.Variables).filter((k) => k.startsWith('TDAB_ASSISTANT_'))).toEqual([]);
  });

  test('workerTimeout and workerMemorySize size it, without the "ignored" warning', () => {
    const { worker: w, stack } = synth({ modelId: HAIKU }, { workerTimeout: Duration.minutes(2), workerMemorySize: 768 });
    expect(w.Properties).toMatchObject({ Timeout: 120, MemorySize: 768 });
    Annotations.fromStack(stack).hasNoWarning('*', Match.stringLikeRegexp('ignored'));
  });

  test('every setting reaches its variable', () => {
    const { worker: w } = synth({
      modelId: HAIKU,
      modelRegion: 'us-west-2',
      systemPrompt: 'Be brief.',
      maxTokens: 2048,
      temperature: 0.2,
      tools: [AssistantTool.FILES, AssistantTool.CHAT, AssistantTool.FILES],
      maxToolCalls: 2,
      knowledgeBaseId: 'KB12345678',
      guardrail: { guardrailId: 'gr0abc12def3', guardrailVersion: '3' },
      memoryTurns: 0,
    });
    expect(w.Properties.Environment.Variables).toMatchObject({
      TDAB_ASSISTANT_MODEL_REGION: 'us-west-2',
      TDAB_ASSISTANT_SYSTEM_PROMPT: 'Be brief.',
      TDAB_ASSISTANT_MAX_TOKENS: '2048',
      TDAB_ASSISTANT_TEMPERATURE: '0.2',
      TDAB_ASSISTANT_TOOLS: 'files,chat',
      TDAB_ASSISTANT_MAX_TOOL_CALLS: '2',
      TDAB_ASSISTANT_KNOWLEDGE_BASE_ID: 'KB12345678',
      TDAB_ASSISTANT_GUARDRAIL_ID: 'gr0abc12def3',
      TDAB_ASSISTANT_GUARDRAIL_VERSION: '3',
      TDAB_ASSISTANT_MEMORY_TURNS: '0',
      TDAB_GRAPH_SCOPES: 'User.Read Files.Read.All Chat.Read',
    });
  });
});

describe('sign-in scopes', () => {
  test('the tools\' scopes are added once, whatever the case or a Graph URI prefix in graphScopes', () => {
    const { worker } = synth({ modelId: HAIKU, tools: [AssistantTool.MAIL, AssistantTool.CALENDAR, AssistantTool.PROFILE] },
      { graphScopes: ['https://graph.microsoft.com/mail.read', 'user.read'] });
    expect(worker.Properties.Environment.Variables.TDAB_GRAPH_SCOPES).toBe('https://graph.microsoft.com/mail.read user.read Calendars.Read');
  });

  test('no tools: graphScopes unchanged', () => {
    const { worker } = synth({ modelId: HAIKU, tools: [] });
    expect(worker.Properties.Environment.Variables).toMatchObject({ TDAB_GRAPH_SCOPES: 'User.Read', TDAB_ASSISTANT_TOOLS: '' });
  });

  test('graphScopes of another resource cannot take the Graph tools\' scopes: synth error', () => {
    expect(() => synth({ modelId: HAIKU }, { graphScopes: ['api://other-api/access_as_user'] })).toThrow(/scopes name 2 resources/);
  });
});

describe('IAM: exactly the model, profile, guardrail and knowledge base', () => {
  test('a model id: that foundation model in the model region, nothing else', () => {
    expect(bedrockStatements(synth({ modelId: HAIKU }).statements)).toEqual([
      { Action: INVOKE, Effect: 'Allow', Resource: fm('us-east-1') },
    ]);
    expect(bedrockStatements(synth({ modelId: HAIKU, modelRegion: 'eu-west-1' }).statements)).toEqual([
      { Action: INVOKE, Effect: 'Allow', Resource: fm('eu-west-1') },
    ]);
  });

  test('a US inference profile: the profile, and the model in the US regions only through that profile', () => {
    const profile = `arn:aws:bedrock:us-east-2:${ACCOUNT}:inference-profile/us.${HAIKU}`;
    expect(bedrockStatements(synth({ modelId: `us.${HAIKU}` }, {}, 'us-east-2').statements)).toEqual([
      { Action: INVOKE, Effect: 'Allow', Resource: profile },
      {
        Action: INVOKE,
        Effect: 'Allow',
        Resource: ['us-east-1', 'us-east-2', 'us-west-1', 'us-west-2'].map((r) => fm(r)),
        Condition: { StringEquals: { 'bedrock:InferenceProfileArn': profile } },
      },
    ]);
  });

  test('inferenceRegions narrows a geographic profile; the source region is always included', () => {
    const profile = `arn:aws:bedrock:eu-central-1:${ACCOUNT}:inference-profile/eu.${HAIKU}`;
    const s = bedrockStatements(synth({ modelId: `eu.${HAIKU}`, inferenceRegions: ['eu-west-1', 'eu-west-3'] }, {}, 'eu-central-1').statements);
    expect(s[1]).toEqual({
      Action: INVOKE,
      Effect: 'Allow',
      Resource: ['eu-central-1', 'eu-west-1', 'eu-west-3'].map((r) => fm(r)),
      Condition: { StringEquals: { 'bedrock:InferenceProfileArn': profile } },
    });
  });

  test('a global profile: the profile, the model in the source region and the region-less model ARN', () => {
    const model = 'anthropic.claude-sonnet-4-5-20250929-v1:0';
    const profile = `arn:aws:bedrock:us-west-2:${ACCOUNT}:inference-profile/global.${model}`;
    expect(bedrockStatements(synth({ modelId: `global.${model}` }, {}, 'us-west-2').statements)).toEqual([
      { Action: INVOKE, Effect: 'Allow', Resource: profile },
      {
        Action: INVOKE,
        Effect: 'Allow',
        Resource: [fm('us-west-2', model), `arn:aws:bedrock:::foundation-model/${model}`],
        Condition: { StringEquals: { 'bedrock:InferenceProfileArn': profile } },
      },
    ]);
  });

  test('ARNs: a foundation model as given; an inference profile with its geography; the region comes from the ARN', () => {
    const fmArn = fm('ap-northeast-1');
    const a = synth({ modelId: fmArn });
    expect(bedrockStatements(a.statements)).toEqual([{ Action: INVOKE, Effect: 'Allow', Resource: fmArn }]);
    expect(a.worker.Properties.Environment.Variables.TDAB_ASSISTANT_MODEL_REGION).toBe('ap-northeast-1');
    const profile = `arn:aws:bedrock:ap-northeast-1:${ACCOUNT}:inference-profile/jp.${HAIKU}`;
    expect(bedrockStatements(synth({ modelId: profile }).statements)).toEqual([
      { Action: INVOKE, Effect: 'Allow', Resource: profile },
      {
        Action: INVOKE,
        Effect: 'Allow',
        Resource: ['ap-northeast-1', 'ap-northeast-3'].map((r) => fm(r)),
        Condition: { StringEquals: { 'bedrock:InferenceProfileArn': profile } },
      },
    ]);
  });

  test('guardrail and knowledge base: ApplyGuardrail and Retrieve on exactly those ARNs', () => {
    const s = bedrockStatements(synth({
      modelId: HAIKU, modelRegion: 'us-west-2', knowledgeBaseId: 'KB12345678', guardrail: { guardrailId: 'gr0abc12def3', guardrailVersion: 'DRAFT' },
    }).statements);
    expect(s.slice(1)).toEqual([
      { Action: 'bedrock:ApplyGuardrail', Effect: 'Allow', Resource: `arn:aws:bedrock:us-west-2:${ACCOUNT}:guardrail/gr0abc12def3` },
      // The knowledge base is retrieved from in the function's region.
      { Action: 'bedrock:Retrieve', Effect: 'Allow', Resource: `arn:aws:bedrock:us-east-1:${ACCOUNT}:knowledge-base/KB12345678` },
    ]);
    const arn = `arn:aws:bedrock:us-east-1:${ACCOUNT}:guardrail/gr0abc12def3`;
    expect(bedrockStatements(synth({ modelId: HAIKU, guardrail: { guardrailId: arn, guardrailVersion: '1' } }).statements)[1])
      .toEqual({ Action: 'bedrock:ApplyGuardrail', Effect: 'Allow', Resource: arn });
  });

  test('memory: GenerateDataKey and Decrypt of the memory purpose only, bound to one user of this bot; none with memoryTurns 0', () => {
    const { statements, template } = synth({ modelId: HAIKU });
    const keyArn = { 'Fn::GetAtt': [logicalId(template, 'AWS::KMS::Key', 'BotKey'), 'Arn'] };
    const memory = statements.filter((s) => JSON.stringify(s.Condition ?? {}).includes('assistant_memory'));
    expect(memory).toEqual([{
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Effect: 'Allow',
      Resource: keyArn,
      Condition: {
        'StringEquals': { 'kms:EncryptionContext:appId': APP_ID, 'kms:EncryptionContext:purpose': 'assistant_memory', 'kms:EncryptionContext:tenantId': TENANT_ID },
        'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['appId', 'tenantId', 'aadObjectId', 'purpose'] },
        'Null': { 'kms:EncryptionContext:tenantId': 'false', 'kms:EncryptionContext:aadObjectId': 'false' },
      },
    }]);
    expect(synth({ modelId: HAIKU, memoryTurns: 0 }).statements.filter((s) => JSON.stringify(s).includes('assistant_memory'))).toEqual([]);
  });

  test('no policy of the stack allows bedrock:* or foundation-model/*, and only the worker role has Bedrock actions', () => {
    const { template } = synth({ modelId: `us.${HAIKU}`, knowledgeBaseId: 'KB12345678', guardrail: { guardrailId: 'abc', guardrailVersion: '1' } });
    const json = JSON.stringify(template.toJSON());
    expect(json).not.toMatch(/bedrock:\*|foundation-model\/\*|"bedrock:[A-Za-z]*\*"/);
    const withBedrock = resourcesOfType(template, 'AWS::IAM::Policy').filter(([, p]) => JSON.stringify(p).includes('"bedrock:'));
    expect(withBedrock.map(([, p]) => p.Properties.Roles)).toEqual([[{ Ref: functionRoleId(template, logicalId(template, 'AWS::Lambda::Function', 'BotWorker')) }]]);
  });
});

describe('validation', () => {
  function make(assistant: AssistantOptions, extra: Partial<TeamsDelegatedAuthBotProps> = {}) {
    const stack = new Stack(new App(), 'V');
    return () => new TeamsDelegatedAuthBot(stack, 'Bot', { appId: APP_ID, tenantId: TENANT_ID, assistant, ...extra });
  }

  test('worker and assistant together: a clear synth error naming both', () => {
    const stack = new Stack(new App(), 'V');
    const worker = new lambda.Function(stack, 'Mine', { runtime: lambda.Runtime.NODEJS_24_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler=async()=>{}') });
    expect(() => new TeamsDelegatedAuthBot(stack, 'Bot', { appId: APP_ID, tenantId: TENANT_ID, worker, assistant: { modelId: HAIKU } }))
      .toThrow(/V\/Bot: invalid assistant .*worker and assistant are mutually exclusive.*V\/Mine/);
  });

  test.each<[string, AssistantOptions, RegExp]>([
    ['empty model id', { modelId: '' }, /invalid assistant.modelId "": expected a Bedrock model id/],
    ['model id with a space', { modelId: 'anthropic claude' }, /invalid assistant.modelId/],
    ['model id without a provider', { modelId: 'claude-3' }, /invalid assistant.modelId "claude-3"/],
    ['profile prefix without a model', { modelId: 'us.claude' }, /invalid assistant.modelId "us.claude"/],
    ['ARN of another service', { modelId: 'arn:aws:s3:::bucket/key' }, /invalid assistant.modelId/],
    ['application inference profile', { modelId: `arn:aws:bedrock:us-east-1:${ACCOUNT}:application-inference-profile/abc123` }, /Application inference profiles .* are not supported/],
    ['profile ARN of no geography', { modelId: `arn:aws:bedrock:us-east-1:${ACCOUNT}:inference-profile/xx.${HAIKU}` }, /must start with a geography/],
    ['modelRegion against the ARN', { modelId: fm('us-east-1'), modelRegion: 'us-west-2' }, /invalid assistant.modelRegion "us-west-2": differs from the region of modelId \(us-east-1\)/],
    ['inferenceRegions on a model id', { modelId: HAIKU, inferenceRegions: ['us-east-1'] }, /invalid assistant.inferenceRegions .*not one: omit it/],
    ['inferenceRegions on a global profile', { modelId: `global.${HAIKU}`, inferenceRegions: ['us-east-1'] }, /invalid assistant.inferenceRegions/],
    ['inferenceRegions not regions', { modelId: `us.${HAIKU}`, inferenceRegions: ['US East'] }, /invalid assistant.inferenceRegions \["US East"\]/],
    ['temperature above 1', { modelId: HAIKU, temperature: 1.5 }, /invalid assistant.temperature 1.5: expected a number from 0 to 1/],
    ['temperature below 0', { modelId: HAIKU, temperature: -0.1 }, /invalid assistant.temperature -0.1/],
    ['maxTokens 0', { modelId: HAIKU, maxTokens: 0 }, /invalid assistant.maxTokens 0: expected an integer between 1 and 8192/],
    ['maxToolCalls 21', { modelId: HAIKU, maxToolCalls: 21 }, /invalid assistant.maxToolCalls 21/],
    ['memoryTurns 51', { modelId: HAIKU, memoryTurns: 51 }, /invalid assistant.memoryTurns 51/],
    ['unknown tool', { modelId: HAIKU, tools: ['shell' as AssistantTool] }, /invalid assistant.tools \["shell"\]: unknown tool "shell"/],
    ['channel tool (not offered)', { modelId: HAIKU, tools: ['channel' as AssistantTool] }, /unknown tool "channel"/],
    ['knowledge base id', { modelId: HAIKU, knowledgeBaseId: 'kb-1' }, /invalid assistant.knowledgeBaseId "kb-1"/],
    ['guardrail version', { modelId: HAIKU, guardrail: { guardrailId: 'abc', guardrailVersion: 'v1' } }, /invalid assistant.guardrail.guardrailVersion "v1"/],
    ['guardrail id', { modelId: HAIKU, guardrail: { guardrailId: 'My Guardrail', guardrailVersion: '1' } }, /invalid assistant.guardrail.guardrailId/],
    ['empty system prompt', { modelId: HAIKU, systemPrompt: ' ' }, /invalid assistant.systemPrompt/],
    ['system prompt over 2,000 characters', { modelId: HAIKU, systemPrompt: 'x'.repeat(2001) }, /invalid assistant.systemPrompt .*1 to 2,000 characters/],
  ])('%s', (_name, assistant, message) => {
    expect(make(assistant)).toThrow(message);
  });
});
