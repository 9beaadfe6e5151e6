import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { packForConsumer } from '../support/packed-package';

const root = path.join(__dirname, '..', '..');

/** Files a consumer needs; everything else (sources, tests, examples, benches, handler sources) stays out. */
const ALLOWED = [
  /^package\.json$/,
  /^README\.md$/,
  /^LICENSE$/,
  /^API\.md$/,
  /^SECURITY\.md$/,
  /^BENCHMARKS\.md$/,
  /^CHANGELOG\.md$/,
  /^docs\/[a-z-]+\.md$/,
  /^docs\/images\/[a-z-]+\.png$/,
  /^\.jsii$/,
  /^\.jsii\.tabl\.json$/, // the jsii-rosetta translations of the examples (written by the build's rosetta:extract)
  /^lib\/.+\.(js|d\.ts)$/,
  /^assets\/lambda\/(receiver|worker|[a-z-]+)\/index\/index\.js$/,
  /^assets\/cli\/[a-z-]+\/index\/index\.js$/,
  /^schemas\/teams-manifest\/(MicrosoftTeams\.schema\.v[0-9.]+\.json|LICENSE|SOURCE\.md)$/,
  /^assets\/kit\/index\/index\.js$/,
  /^assets\/kit\/index\.d\.ts$/,
  /^assets\/testing\/index\/index\.js$/,
  /^assets\/testing\/index\.d\.ts$/,
  /^assets\/cli\/playground\/page\/index\/index\.js$/,
  /^schemas\/worker-contract\/v[0-9]+\.schema\.json$/,
];

test('npm pack: handler bundles and compiled library only', () => {
  if (!fs.existsSync(path.join(root, 'lib', 'index.js'))) {
    throw new Error('lib/ is missing: run `npx projen compile` (or `npx projen build`) before this test');
  }
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const files: string[] = JSON.parse(out)[0].files.map((f: { path: string }) => f.path);
  const unexpected = files.filter((f) => !ALLOWED.some((re) => re.test(f)));
  expect(unexpected).toEqual([]);
  expect(files).toEqual(expect.arrayContaining([
    'assets/lambda/receiver/index/index.js',
    'assets/lambda/worker/index/index.js',
    'assets/kit/index/index.js',
    'assets/kit/index.d.ts',
    'assets/testing/index/index.js',
    'assets/testing/index.d.ts',
    'assets/cli/app-package/index/index.js',
    'schemas/teams-manifest/MicrosoftTeams.schema.v1.29.json',
    'schemas/teams-manifest/LICENSE',
    'assets/cli/playground/index/index.js',
    'assets/cli/playground/page/index/index.js',
    'schemas/worker-contract/v1.schema.json',
    'schemas/worker-contract/v2.schema.json',
    'lib/index.js',
    'lib/index.d.ts',
    'lib/teams-delegated-auth-bot.js',
    '.jsii',
    'README.md',
    'API.md',
    'SECURITY.md',
    'CHANGELOG.md',
    'BENCHMARKS.md',
    'docs/setup.md',
  ]));
  for (const banned of [/^src\//, /^test\//, /^testing\//, /^lambda\//, /^examples\//, /^bench\//, /^cli\//, /\.meta\.json$/, /\.test\./, /^\.ci\//]) {
    expect(files.filter((f) => banned.test(f))).toEqual([]);
  }
});

test('a consumer with only aws-cdk-lib and constructs synthesizes from the packed tarball (no esbuild, no Docker)', () => {
  const { work, pkgDir } = packForConsumer(root, 'tdab-consumer-');
  try {
    for (const dep of ['aws-cdk-lib', 'constructs']) {
      fs.symlinkSync(path.join(root, 'node_modules', dep), path.join(work, 'node_modules', dep), 'dir');
    }
    fs.writeFileSync(path.join(work, 'app.js'), [
      "const { App, Stack } = require('aws-cdk-lib');",
      "const { TeamsDelegatedAuthBot } = require('cdk-teams-delegated-auth-bot');",
      "const app = new App({ outdir: 'cdk.out' });",
      "const stack = new Stack(app, 'Consumer');",
      "new TeamsDelegatedAuthBot(stack, 'Bot', { appId: '11111111-2222-3333-4444-555555555555', tenantId: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee' });",
      'app.synth();',
    ].join('\n'));
    execFileSync(process.execPath, ['app.js'], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
    const template = JSON.parse(fs.readFileSync(path.join(work, 'cdk.out', 'Consumer.template.json'), 'utf8'));
    const fns = Object.values<any>(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    expect(fns).toHaveLength(3);
    const bundles = fs.readdirSync(path.join(work, 'cdk.out')).filter((d) => fs.existsSync(path.join(work, 'cdk.out', d, 'index.js')));
    // receiver, worker and the AwsCustomResource provider: each asset directory holds an index.js
    expect(bundles.length).toBeGreaterThanOrEqual(3);
    // The playground runs from the tarball alone (no AWS SDK, esbuild or anything else installed next to it): a script
    // through the real receiver and default worker, sign-in at the local IdP included.
    fs.writeFileSync(path.join(work, 'script.json'), JSON.stringify({
      steps: [{ send: 'hello' }, { expect: { signInCard: true } }, { signIn: 'ada' }, { expect: { text: 'Ada Lovelace' } }],
    }));
    const pgPkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
    const run = execFileSync(process.execPath, [path.join(pkgDir, pgPkg.bin['teams-bot-playground']), 'test', 'script.json'], {
      cwd: work, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'],
    });
    expect(run).toContain('passed');
    // The worker kit subpath (a kit user installs the AWS SDK clients it names) and the Teams app package tool.
    fs.symlinkSync(path.join(root, 'node_modules', '@aws-sdk'), path.join(work, 'node_modules', '@aws-sdk'), 'dir');
    const kit = execFileSync(process.execPath, ['-e', "console.log(typeof require('cdk-teams-delegated-auth-bot/worker').defineWorker)"], { cwd: work, encoding: 'utf8' });
    expect(kit.trim()).toBe('function');
    // Its one declaration file (no internal type files; the test kit has its own, test/testing/package.test.ts) type-checks
    // a worker written against the subpath.
    const kitTypes = fs.readdirSync(path.join(pkgDir, 'assets'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.d.ts'));
    expect(kitTypes.sort()).toEqual([path.join('kit', 'index.d.ts'), path.join('testing', 'index.d.ts')]);
    fs.symlinkSync(path.join(root, 'node_modules', '@types'), path.join(work, 'node_modules', '@types'), 'dir');
    fs.writeFileSync(path.join(work, 'my-worker.ts'), [
      "import { defineWorker, quote, WorkerArgs, WorkerOptions } from 'cdk-teams-delegated-auth-bot/worker';",
      'const options: WorkerOptions = { apology: false };',
      'export const handler = defineWorker(async ({ text, graph, reply }: WorkerArgs) => {',
      '  const me = await graph.me();',
      '  await reply(`${me.displayName}: ${quote(text)}`);',
      '}, options);',
    ].join('\n'));
    const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '--noEmit', '--strict', '--target', 'es2022',
      '--module', 'preserve', '--moduleResolution', 'bundler', '--lib', 'es2022,dom', '--types', 'node', 'my-worker.ts'],
    { cwd: work, encoding: 'utf8', timeout: 120_000 });
    expect(tsc.stdout + tsc.stderr).toBe('');
    const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
    const help = execFileSync(process.execPath, [path.join(pkgDir, pkg.bin['teams-bot-app-package']), '--help'], { cwd: work, encoding: 'utf8' });
    expect(help).toContain('Usage: teams-bot-app-package');
    const version = execFileSync(process.execPath, [path.join(pkgDir, pkg.bin['teams-bot-app-package']), '--version'], { cwd: work, encoding: 'utf8' });
    expect(version).toBe(`${pkg.version}\n`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}, 120_000);
