import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.join(__dirname, '..', '..');

/** One example app synthesized with the pinned CDK CLI, offline. */
interface Synthesized { outDir: string; templatePath: string; template: any }

/** `cdk synth` of examples/<name> (its stack `stack`) into a temp dir: no notices, no telemetry, no credentials. */
function synth(name: string, stack: string): Synthesized {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), `tdab-example-${name}-`));
  const run = spawnSync('npx', ['cdk', 'synth', '--no-notices', '--quiet', '--output', outDir], {
    cwd: path.join(root, 'examples', name),
    encoding: 'utf8',
    env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '' },
    timeout: 120_000,
  });
  if (run.status !== 0) {
    fs.rmSync(outDir, { recursive: true, force: true });
    throw new Error(`cdk synth of examples/${name} failed (${run.status}):\n${run.stdout}\n${run.stderr}`);
  }
  const templatePath = path.join(outDir, `${stack}.template.json`);
  return { outDir, templatePath, template: JSON.parse(fs.readFileSync(templatePath, 'utf8')) };
}

/** cfn-lint findings of a template: no errors; the only warning allowed is CDK's DependsOn on the role policy (W3005). */
function expectCfnLintClean(templatePath: string): void {
  const lint = spawnSync('cfn-lint', ['--format', 'json', templatePath], { encoding: 'utf8', timeout: 120_000 });
  if (lint.error) {
    throw new Error(`cfn-lint is required (pip install cfn-lint) and could not run: ${lint.error.message}`);
  }
  const findings: Array<{ Rule: { Id: string }; Level: string; Message: string }> = JSON.parse(lint.stdout || '[]');
  const errors = findings.filter((f) => f.Level === 'Error');
  expect(errors).toEqual([]);
  // cfn-lint's exit code is a bit mask: 2 = errors.
  expect(Math.floor(lint.status! / 2) % 2).toBe(0);
  expect([...new Set(findings.map((f) => f.Rule.Id))].filter((id) => id !== 'W3005')).toEqual([]);
}

let basic: Synthesized;
let assistant: Synthesized;

beforeAll(() => {
  basic = synth('basic', 'TeamsDelegatedAuthBotExample');
  assistant = synth('assistant', 'TeamsDelegatedAuthBotAssistantExample');
}, 300_000);

afterAll(() => {
  for (const s of [basic, assistant]) if (s) fs.rmSync(s.outDir, { recursive: true, force: true });
});

test('the example app synthesizes offline with the CDK CLI, handler bundles included', () => {
  const { template, outDir } = basic;
  const types = Object.values<any>(template.Resources).map((r) => r.Type);
  expect(types.filter((t) => t === 'AWS::Lambda::Function')).toHaveLength(3);
  expect(types).toContain('Custom::TeamsBotBaseUrl');
  const assets = JSON.parse(fs.readFileSync(path.join(outDir, 'TeamsDelegatedAuthBotExample.assets.json'), 'utf8'));
  const dirs = Object.values<any>(assets.files).map((f) => f.source.path);
  // Each handler asset directory holds the bundle and not the esbuild metafile.
  const handlerDirs = dirs.filter((d) => fs.existsSync(path.join(outDir, d, 'index.js')));
  expect(handlerDirs.length).toBeGreaterThanOrEqual(2);
  for (const d of handlerDirs) expect(fs.readdirSync(path.join(outDir, d)).filter((f) => f.endsWith('.meta.json'))).toEqual([]);
  expect(Object.keys(template.Outputs).some((k) => k.startsWith('BotMessagingEndpoint'))).toBe(true);
  expect(Object.keys(template.Outputs).some((k) => k.startsWith('BotRedirectUri'))).toBe(true);
});

test('cfn-lint: no errors on the synthesized example template', () => {
  expectCfnLintClean(basic.templatePath);
});

test('the assistant example synthesizes offline: the assistant bundle is the worker, with its settings, scopes and Bedrock access', () => {
  const fns = Object.values<any>(assistant.template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
  const worker = fns.find((f) => f.Properties.Environment?.Variables?.TDAB_ASSISTANT_MODEL_ID !== undefined);
  expect(worker).toBeDefined();
  expect(worker.Properties).toMatchObject({ Timeout: 300, MemorySize: 1024 });
  expect(worker.Properties.Environment.Variables).toMatchObject({
    TDAB_ASSISTANT_MODEL_ID: 'us.anthropic.claude-3-5-haiku-20241022-v1:0',
    TDAB_ASSISTANT_TOOLS: 'profile,calendar,mail',
    TDAB_ASSISTANT_MEMORY_TURNS: '10',
  });
  // The tools' delegated scopes are added to the sign-in scopes.
  expect(worker.Properties.Environment.Variables.TDAB_GRAPH_SCOPES.split(' ')).toEqual(expect.arrayContaining(['User.Read', 'Calendars.Read', 'Mail.Read']));
  // The worker's code asset is the shipped assistant bundle, byte for byte.
  const assets = JSON.parse(fs.readFileSync(path.join(assistant.outDir, 'TeamsDelegatedAuthBotAssistantExample.assets.json'), 'utf8'));
  const key: string = worker.Properties.Code.S3Key;
  const asset = Object.values<any>(assets.files).find((f) => Object.values<any>(f.destinations).some((d) => d.objectKey === key));
  expect(asset).toBeDefined();
  const bundle = fs.readFileSync(path.join(assistant.outDir, asset.source.path, 'index.js'));
  expect(bundle.equals(fs.readFileSync(path.join(root, 'assets', 'lambda', 'assistant', 'index', 'index.js')))).toBe(true);
  // Bedrock: streaming invocation of exactly the example's inference profile (and its model through it).
  const statements = Object.values<any>(assistant.template.Resources).filter((r) => r.Type === 'AWS::IAM::Policy')
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
  const bedrock = statements.filter((st) => [st.Action].flat().includes('bedrock:InvokeModelWithResponseStream'));
  expect(bedrock.length).toBeGreaterThan(0);
  expect(JSON.stringify(bedrock)).toContain('inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0');
  expect(JSON.stringify(bedrock)).not.toContain('foundation-model/*');
});

test('cfn-lint: no errors on the synthesized assistant example template', () => {
  expectCfnLintClean(assistant.templatePath);
});
