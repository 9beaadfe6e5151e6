import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.join(__dirname, '..', '..');
const exampleDir = path.join(root, 'examples', 'basic');

let outDir: string;
let template: any;
let templatePath: string;

beforeAll(() => {
  outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tdab-example-'));
  // The pinned CDK CLI from devDependencies, offline: no notices, no telemetry, no credentials.
  const synth = spawnSync('npx', ['cdk', 'synth', '--no-notices', '--quiet', '--output', outDir], {
    cwd: exampleDir,
    encoding: 'utf8',
    env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '' },
    timeout: 120_000,
  });
  if (synth.status !== 0) {
    throw new Error(`cdk synth of examples/basic failed (${synth.status}):\n${synth.stdout}\n${synth.stderr}`);
  }
  templatePath = path.join(outDir, 'TeamsDelegatedAuthBotExample.template.json');
  template = JSON.parse(fs.readFileSync(templatePath, 'utf8'));
}, 150_000);

afterAll(() => {
  if (outDir) fs.rmSync(outDir, { recursive: true, force: true });
});

test('the example app synthesizes offline with the CDK CLI, handler bundles included', () => {
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
  const lint = spawnSync('cfn-lint', ['--format', 'json', templatePath], { encoding: 'utf8', timeout: 120_000 });
  if (lint.error) {
    throw new Error(`cfn-lint is required (pip install cfn-lint) and could not run: ${lint.error.message}`);
  }
  const findings: Array<{ Rule: { Id: string }; Level: string; Message: string }> = JSON.parse(lint.stdout || '[]');
  const errors = findings.filter((f) => f.Level === 'Error');
  expect(errors).toEqual([]);
  // cfn-lint's exit code is a bit mask: 2 = errors.
  expect(Math.floor(lint.status! / 2) % 2).toBe(0);
  // The only warnings allowed: CDK's explicit DependsOn from each function to its role's policy (W3005).
  expect([...new Set(findings.map((f) => f.Rule.Id))].filter((id) => id !== 'W3005')).toEqual([]);
});
