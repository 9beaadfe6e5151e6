/**
 * The `assistant` prop, resolved: validation, the Bedrock resources the worker may use (exactly the model or inference
 * profile and the foundation models behind it, the guardrail, the knowledge base), its environment and its grants.
 */
import { Arn, ArnFormat, Stack, Token, Tokenization } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { IConstruct } from 'constructs';
import {
  ASSISTANT_ENV, ASSISTANT_LIMITS, ASSISTANT_TEMPERATURE, AssistantToolName, DEFAULT_ASSISTANT_TOOLS, GUARDRAIL_ID_PATTERN,
  GUARDRAIL_VERSION_PATTERN, KNOWLEDGE_BASE_ID_PATTERN, REGION_PATTERN, assistantToolScopes, isAssistantToolName, isModelId,
} from './assistant';
import { TeamsBotValidationError, validateInteger } from './validation';
import type { AssistantOptions } from '../assistant';

/**
 * Destination regions of the system-defined geographic inference profiles, by id prefix: the union over the models
 * of each geography (Bedrock user guide, "Supported Regions and models for inference profiles"). `inferenceRegions`
 * narrows it to one profile's list. `global` has no list: it routes to any commercial region (see {@link modelResources}).
 */
export const INFERENCE_GEOGRAPHIES: Readonly<Record<string, readonly string[]>> = {
  'us': ['us-east-1', 'us-east-2', 'us-west-1', 'us-west-2'],
  'us-gov': ['us-gov-east-1', 'us-gov-west-1'],
  'ca': ['ca-central-1', 'ca-west-1'],
  'eu': ['eu-central-1', 'eu-central-2', 'eu-north-1', 'eu-south-1', 'eu-south-2', 'eu-west-1', 'eu-west-2', 'eu-west-3'],
  'apac': ['ap-northeast-1', 'ap-northeast-2', 'ap-northeast-3', 'ap-south-1', 'ap-south-2', 'ap-southeast-1', 'ap-southeast-2', 'ap-southeast-3', 'ap-southeast-4'],
  'jp': ['ap-northeast-1', 'ap-northeast-3'],
  'au': ['ap-southeast-2', 'ap-southeast-4'],
};

/** Prefix of a global inference profile id. */
const GLOBAL_PREFIX = 'global';

/** A foundation model id: `provider.model…` (letters, digits, `.`, `-`, `:`, `_`). */
const FOUNDATION_MODEL_PATTERN = /^[a-z0-9-]+\.[A-Za-z0-9._:-]+$/;

/** What the worker may invoke: an inference profile (or none) and the foundation model ARNs. */
export interface AssistantModelResources {
  readonly inferenceProfileArn?: string;
  readonly foundationModelArns: string[];
  /** The region the worker calls Bedrock Runtime in (a token for the stack's region). */
  readonly region: string;
}

/** The assistant's settings, validated, with what the construct derives from them. */
export interface ResolvedAssistant {
  readonly tools: AssistantToolName[];
  /** The delegated scopes the tools need. */
  readonly scopes: string[];
  readonly model: AssistantModelResources;
  readonly guardrailArn?: string;
  readonly knowledgeBaseArn?: string;
  readonly memoryTurns: number;
  /** The `TDAB_ASSISTANT_*` variables of the worker. */
  readonly environment: { [name: string]: string };
}

/** Validates `assistant` (eagerly; tokens pass) and derives its resources and environment. */
export function resolveAssistant(scope: IConstruct, options: AssistantOptions): ResolvedAssistant {
  const tools = resolveTools(scope, options.tools);
  validateNumbers(scope, options);
  const model = modelResources(scope, options);
  const stack = Stack.of(scope);
  const g = options.guardrail;
  const guardrailArn = g === undefined ? undefined : guardrailArnOf(scope, g.guardrailId, g.guardrailVersion, model.region);
  let knowledgeBaseArn: string | undefined;
  if (options.knowledgeBaseId !== undefined) {
    checkPattern(scope, 'assistant.knowledgeBaseId', options.knowledgeBaseId, KNOWLEDGE_BASE_ID_PATTERN, 'expected the knowledge base id, 10 letters or digits (Bedrock console, Knowledge bases)');
    knowledgeBaseArn = stack.formatArn({ service: 'bedrock', resource: 'knowledge-base', resourceName: options.knowledgeBaseId });
  }
  const memoryTurns = options.memoryTurns ?? ASSISTANT_LIMITS.memoryTurns.default;
  const env: { [name: string]: string } = {
    [ASSISTANT_ENV.MODEL_ID]: options.modelId,
    [ASSISTANT_ENV.MODEL_REGION]: model.region,
    [ASSISTANT_ENV.TOOLS]: tools.join(','),
    [ASSISTANT_ENV.MEMORY_TURNS]: Tokenization.stringifyNumber(memoryTurns),
  };
  const optional: Array<[string, string | number | undefined]> = [
    [ASSISTANT_ENV.SYSTEM_PROMPT, options.systemPrompt],
    [ASSISTANT_ENV.MAX_TOKENS, options.maxTokens],
    [ASSISTANT_ENV.TEMPERATURE, options.temperature],
    [ASSISTANT_ENV.MAX_TOOL_CALLS, options.maxToolCalls],
    [ASSISTANT_ENV.KNOWLEDGE_BASE_ID, options.knowledgeBaseId],
    [ASSISTANT_ENV.GUARDRAIL_ID, options.guardrail?.guardrailId],
    [ASSISTANT_ENV.GUARDRAIL_VERSION, options.guardrail?.guardrailVersion],
  ];
  for (const [name, value] of optional) if (value !== undefined) env[name] = typeof value === 'number' ? Tokenization.stringifyNumber(value) : value;
  return { tools, scopes: assistantToolScopes(tools), model, guardrailArn, knowledgeBaseArn, memoryTurns, environment: env };
}

function resolveTools(scope: IConstruct, tools: string[] | undefined): AssistantToolName[] {
  if (tools === undefined) return [...DEFAULT_ASSISTANT_TOOLS];
  if (Token.isUnresolved(tools)) throw new TeamsBotValidationError(scope, 'assistant.tools', 'token', 'must be a literal list of AssistantTool values');
  const names: AssistantToolName[] = [];
  for (const t of tools) {
    // `channel` is in the shared table (for its scope) but not offered: the runtime cannot read channel threads yet.
    if (!isAssistantToolName(t) || t === 'channel') {
      throw new TeamsBotValidationError(scope, 'assistant.tools', tools, `unknown tool ${JSON.stringify(t)}: use AssistantTool values (profile, calendar, mail, files, chat)`);
    }
    if (!names.includes(t)) names.push(t);
  }
  return names;
}

function validateNumbers(scope: IConstruct, options: AssistantOptions): void {
  const { maxTokens, maxToolCalls, memoryTurns } = ASSISTANT_LIMITS;
  if (options.maxTokens !== undefined) validateInteger(scope, 'assistant.maxTokens', options.maxTokens, maxTokens.min, maxTokens.max);
  if (options.maxToolCalls !== undefined) validateInteger(scope, 'assistant.maxToolCalls', options.maxToolCalls, maxToolCalls.min, maxToolCalls.max);
  if (options.memoryTurns !== undefined) validateInteger(scope, 'assistant.memoryTurns', options.memoryTurns, memoryTurns.min, memoryTurns.max);
  const t = options.temperature;
  if (t !== undefined && !Token.isUnresolved(t) && !(t >= ASSISTANT_TEMPERATURE.min && t <= ASSISTANT_TEMPERATURE.max)) {
    throw new TeamsBotValidationError(scope, 'assistant.temperature', t, `expected a number from ${ASSISTANT_TEMPERATURE.min} to ${ASSISTANT_TEMPERATURE.max}`);
  }
  const p = options.systemPrompt;
  if (p !== undefined && !Token.isUnresolved(p) && (p.trim() === '' || p.length > 2000)) {
    throw new TeamsBotValidationError(scope, 'assistant.systemPrompt', `${p.slice(0, 40)}…`,
      'expected 1 to 2,000 characters (it travels in the function\'s environment, 4 KB in all); omit it for the built-in prompt');
  }
}

function checkPattern(scope: IConstruct, prop: string, value: string, pattern: RegExp, fix: string): void {
  if (!Token.isUnresolved(value) && !pattern.test(value)) throw new TeamsBotValidationError(scope, prop, value, fix);
}

const MODEL_ID_FIX = 'expected a Bedrock model id ("anthropic.claude-3-5-haiku-20241022-v1:0"), a system inference profile id ' +
  '("us.anthropic.claude-3-5-haiku-20241022-v1:0", "global.…"), or the ARN of a foundation model or an inference profile';

/**
 * The model or inference profile the worker may invoke, and the foundation models behind a profile: a model id or
 * foundation-model ARN is itself; a geographic profile routes to its geography's regions (or `inferenceRegions`);
 * a global profile to any commercial region, which IAM names as the region-less foundation-model ARN besides the
 * source region's (Bedrock user guide, "Global cross-Region inference", IAM requirements).
 */
export function modelResources(scope: IConstruct, options: AssistantOptions): AssistantModelResources {
  const id = options.modelId;
  if (Token.isUnresolved(id)) throw new TeamsBotValidationError(scope, 'assistant.modelId', 'token', 'must be a literal string (IAM names the model at synth time)');
  if (!isModelId(id)) throw new TeamsBotValidationError(scope, 'assistant.modelId', id, MODEL_ID_FIX);
  const stack = Stack.of(scope);
  if (id.startsWith('arn:')) return modelResourcesOfArn(scope, options);
  const region = options.modelRegion ?? stack.region;
  const prefix = id.split('.')[0];
  const fm = (r: string, model: string) => `arn:${stack.partition}:bedrock:${r}::foundation-model/${model}`;
  if (prefix !== GLOBAL_PREFIX && INFERENCE_GEOGRAPHIES[prefix] === undefined) {
    if (!FOUNDATION_MODEL_PATTERN.test(id)) throw new TeamsBotValidationError(scope, 'assistant.modelId', id, MODEL_ID_FIX);
    noInferenceRegions(scope, options, id);
    return { region, foundationModelArns: [fm(region, id)] };
  }
  const model = id.slice(prefix.length + 1);
  if (!FOUNDATION_MODEL_PATTERN.test(model)) throw new TeamsBotValidationError(scope, 'assistant.modelId', id, MODEL_ID_FIX);
  const inferenceProfileArn = `arn:${stack.partition}:bedrock:${region}:${stack.account}:inference-profile/${id}`;
  return { region, inferenceProfileArn, foundationModelArns: profileModelArns(scope, options, prefix, region, (r) => fm(r, model)) };
}

function profileModelArns(scope: IConstruct, options: AssistantOptions, prefix: string, region: string, fm: (r: string) => string): string[] {
  if (prefix === GLOBAL_PREFIX) {
    noInferenceRegions(scope, options, options.modelId);
    return [fm(region), fm('')];
  }
  const regions = options.inferenceRegions ?? [...INFERENCE_GEOGRAPHIES[prefix]];
  if (options.inferenceRegions !== undefined && !Token.isUnresolved(regions)) {
    if (regions.length === 0 || regions.some((r) => !Token.isUnresolved(r) && !REGION_PATTERN.test(r))) {
      throw new TeamsBotValidationError(scope, 'assistant.inferenceRegions', regions, 'expected the region names the inference profile routes to, such as ["us-east-1", "us-west-2"]');
    }
  }
  const all = Token.isUnresolved(region) || regions.includes(region) ? regions : [region, ...regions];
  return all.map(fm);
}

function noInferenceRegions(scope: IConstruct, options: AssistantOptions, id: string): void {
  if (options.inferenceRegions !== undefined) {
    throw new TeamsBotValidationError(scope, 'assistant.inferenceRegions', options.inferenceRegions,
      `applies to a geographic cross-region inference profile only, and ${id} is not one: omit it`);
  }
}

/** A foundation-model or inference-profile ARN (an application inference profile hides its model: not supported). */
function modelResourcesOfArn(scope: IConstruct, options: AssistantOptions): AssistantModelResources {
  const id = options.modelId;
  const arn = Arn.split(id, ArnFormat.SLASH_RESOURCE_NAME);
  const name = arn.resourceName ?? '';
  if (arn.service !== 'bedrock' || !['foundation-model', 'inference-profile'].includes(arn.resource) || name === '' || !arn.region) {
    throw new TeamsBotValidationError(scope, 'assistant.modelId', id, `${MODEL_ID_FIX}. Application inference profiles and provisioned models are not supported: name the model or system profile`);
  }
  if (options.modelRegion !== undefined && !Token.isUnresolved(options.modelRegion) && options.modelRegion !== arn.region) {
    throw new TeamsBotValidationError(scope, 'assistant.modelRegion', options.modelRegion, `differs from the region of modelId (${arn.region}): omit it`);
  }
  if (arn.resource === 'foundation-model') {
    if (!FOUNDATION_MODEL_PATTERN.test(name)) throw new TeamsBotValidationError(scope, 'assistant.modelId', id, MODEL_ID_FIX);
    noInferenceRegions(scope, options, id);
    return { region: arn.region, foundationModelArns: [id] };
  }
  const prefix = name.split('.')[0];
  const model = name.slice(prefix.length + 1);
  if ((prefix !== GLOBAL_PREFIX && INFERENCE_GEOGRAPHIES[prefix] === undefined) || !FOUNDATION_MODEL_PATTERN.test(model)) {
    throw new TeamsBotValidationError(scope, 'assistant.modelId', id, `${MODEL_ID_FIX}; the profile name must start with a geography (${[...Object.keys(INFERENCE_GEOGRAPHIES), GLOBAL_PREFIX].join(', ')})`);
  }
  const fm = (r: string) => `arn:${arn.partition}:bedrock:${r}::foundation-model/${model}`;
  return { region: arn.region, inferenceProfileArn: id, foundationModelArns: profileModelArns(scope, options, prefix, arn.region, fm) };
}

function guardrailArnOf(scope: IConstruct, guardrailId: string, version: string, region: string): string {
  checkPattern(scope, 'assistant.guardrail.guardrailId', guardrailId, GUARDRAIL_ID_PATTERN, 'expected the guardrail id (lower-case letters and digits) or its ARN');
  checkPattern(scope, 'assistant.guardrail.guardrailVersion', version, GUARDRAIL_VERSION_PATTERN, 'expected a version number such as "1", or "DRAFT"');
  if (guardrailId.startsWith('arn:')) return guardrailId;
  const stack = Stack.of(scope);
  return `arn:${stack.partition}:bedrock:${region}:${stack.account}:guardrail/${guardrailId}`;
}

/**
 * The worker's Bedrock permissions: invoke exactly the model or profile; the foundation models behind a profile only
 * through it (`bedrock:InferenceProfileArn`); apply exactly the guardrail; retrieve from exactly the knowledge base.
 */
export function grantAssistantBedrock(grantee: iam.IGrantable, assistant: ResolvedAssistant): iam.Grant {
  const invoke = ['bedrock:InvokeModel', 'bedrock:InvokeModelWithResponseStream'];
  const { inferenceProfileArn, foundationModelArns } = assistant.model;
  let grant = inferenceProfileArn === undefined
    ? iam.Grant.addToPrincipal({ grantee, actions: invoke, resourceArns: foundationModelArns })
    : iam.Grant.addToPrincipal({ grantee, actions: invoke, resourceArns: [inferenceProfileArn] }).combine(iam.Grant.addToPrincipal({
      grantee,
      actions: invoke,
      resourceArns: foundationModelArns,
      conditions: { StringEquals: { 'bedrock:InferenceProfileArn': inferenceProfileArn } },
    }));
  if (assistant.guardrailArn !== undefined) {
    grant = grant.combine(iam.Grant.addToPrincipal({ grantee, actions: ['bedrock:ApplyGuardrail'], resourceArns: [assistant.guardrailArn] }));
  }
  if (assistant.knowledgeBaseArn !== undefined) {
    grant = grant.combine(iam.Grant.addToPrincipal({ grantee, actions: ['bedrock:Retrieve'], resourceArns: [assistant.knowledgeBaseArn] }));
  }
  return grant;
}
