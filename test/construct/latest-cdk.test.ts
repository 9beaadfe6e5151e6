/**
 * The construct against the newest aws-cdk-lib 2.x, not only the minimum it declares (cdkVersion in .projenrc.ts):
 * the example app is synthesized in a child process in which every `aws-cdk-lib` import resolves to the devDependency
 * `aws-cdk-lib-latest` (an npm alias of aws-cdk-lib@^2, installed with the others: nothing is installed here).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.join(__dirname, '..', '..');

const DRIVER = `
const Module = require('module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'aws-cdk-lib' || request.startsWith('aws-cdk-lib/')) request = 'aws-cdk-lib-latest' + request.slice('aws-cdk-lib'.length);
  return resolve.call(this, request, ...rest);
};
const rootRequire = Module.createRequire(${JSON.stringify(path.join(root, 'package.json'))});
rootRequire('ts-node').register({ transpileOnly: true, project: ${JSON.stringify(path.join(root, 'examples', 'tsconfig.json'))} });
process.stdout.write(JSON.stringify({ version: rootRequire('aws-cdk-lib/package.json').version, file: rootRequire.resolve('aws-cdk-lib') }) + '\\n');
require(${JSON.stringify(path.join(root, 'examples', 'basic', 'app.ts'))});
`;

function semver(v: string): number[] {
  return v.split('.').map((n) => parseInt(n, 10));
}

test('the example app synthesizes with the newest aws-cdk-lib 2.x (and it is newer than the minimum)', () => {
  const latest = JSON.parse(fs.readFileSync(path.join(root, 'node_modules', 'aws-cdk-lib-latest', 'package.json'), 'utf8')).version;
  const minimum = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).peerDependencies['aws-cdk-lib'].replace(/^\^/, '');
  expect(semver(latest)[0]).toBe(2);
  expect(semver(latest)[1]).toBeGreaterThanOrEqual(semver(minimum)[1]);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'tdab-latest-cdk-'));
  try {
    const driver = path.join(out, 'driver.js');
    fs.writeFileSync(driver, DRIVER);
    const run = spawnSync(process.execPath, [driver], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, CDK_OUTDIR: path.join(out, 'cdk.out'), AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '' },
      timeout: 120_000,
    });
    if (run.status !== 0) throw new Error(`synth with aws-cdk-lib ${latest} failed (${run.status}):\n${run.stdout}\n${run.stderr}`);
    const loaded = JSON.parse(run.stdout.split('\n')[0]);
    expect(loaded.version).toBe(latest);
    expect(loaded.file).toContain(path.join('node_modules', 'aws-cdk-lib-latest'));
    const template = JSON.parse(fs.readFileSync(path.join(out, 'cdk.out', 'TeamsDelegatedAuthBotExample.template.json'), 'utf8'));
    const resources = Object.values<any>(template.Resources);
    expect(resources.filter((r) => r.Type === 'AWS::Lambda::Function')).toHaveLength(3);
    expect(resources.filter((r) => r.Type === 'Custom::TeamsBotBaseUrl')).toHaveLength(1);
    // A public function URL needs both permissions, whatever aws-cdk-lib version synthesizes it.
    const actions = resources.filter((r) => r.Type === 'AWS::Lambda::Permission').map((r) => r.Properties.Action).sort();
    expect(actions).toEqual(expect.arrayContaining(['lambda:InvokeFunction', 'lambda:InvokeFunctionUrl']));
    expect(Object.keys(template.Outputs).filter((k) => /^Bot(MessagingEndpoint|RedirectUri|AppId|BotSecretArn)[0-9A-F]{8}$/.test(k))).toHaveLength(4);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}, 150_000);
