import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const root = path.join(__dirname, '..', '..');

/** Files a consumer needs; everything else (sources, tests, examples, benches, handler sources) stays out. */
const ALLOWED = [
  /^package\.json$/,
  /^README\.md$/,
  /^LICENSE$/,
  /^API\.md$/,
  /^SECURITY\.md$/,
  /^\.jsii$/,
  /^lib\/.+\.(js|d\.ts)$/,
  /^assets\/lambda\/(receiver|worker|[a-z-]+)\/index\/index\.js$/,
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
    'lib/index.js',
    'lib/index.d.ts',
    'lib/teams-delegated-auth-bot.js',
    '.jsii',
    'README.md',
    'API.md',
  ]));
  for (const banned of [/^src\//, /^test\//, /^lambda\//, /^examples\//, /^bench\//, /^docs\//, /\.meta\.json$/, /\.test\./, /^\.ci\//]) {
    expect(files.filter((f) => banned.test(f))).toEqual([]);
  }
});
