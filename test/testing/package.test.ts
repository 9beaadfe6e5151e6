/**
 * The test kit as a consumer gets it: `cdk-teams-delegated-auth-bot/testing` from the packed tarball (its bundle and
 * its one declaration file), next to the worker kit's subpath. The documented example of docs/worker-kit.md ("Testing
 * your worker": the complete example's worker and its jest test) type-checks in strict TypeScript against the two
 * .d.ts files and passes under jest, with nothing of this repository but the tarball (the AWS SDK clients the kits
 * name are installed next to it, as a kit user has them; jest and ts-jest are the repository's).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packForConsumer } from '../support/packed-package';

const root = path.join(__dirname, '..', '..');

/** The documented worker (`lambda/my-worker.ts` of "Complete example") and its test (`test/my-worker.test.ts`). */
function documentedExample(): { worker: string; test: string } {
  const doc = fs.readFileSync(path.join(root, 'docs', 'worker-kit.md'), 'utf8');
  const worker = /```ts\n(import \{ defineWorker[\s\S]*?)```/.exec(doc)?.[1];
  const testing = doc.slice(doc.indexOf('## Testing your worker'));
  const test = /```ts\n(import \{ createTestBot[\s\S]*?)```/.exec(testing)?.[1];
  if (!worker || !test) throw new Error('docs/worker-kit.md: the complete example or the test example is missing');
  return { worker, test };
}

test('the documented worker test runs from the packed tarball: the testing subpath and its declarations', () => {
  for (const f of ['assets/testing/index/index.js', 'assets/testing/index.d.ts', 'assets/kit/index/index.js', 'assets/kit/index.d.ts']) {
    if (!fs.existsSync(path.join(root, f))) throw new Error(`${f} is missing: run \`npx projen bundle\` before this test`);
  }
  const { work, pkgDir } = packForConsumer(root, 'tdab-testing-consumer-');
  try {
    // The tarball holds the kit's bundle and one declaration file, not its sources.
    const files = fs.readdirSync(pkgDir, { recursive: true, encoding: 'utf8' });
    expect(files.filter((f) => f.startsWith(`testing${path.sep}`))).toEqual([]);
    expect(files.filter((f) => f.startsWith(path.join('assets', 'testing')) && !fs.statSync(path.join(pkgDir, f)).isDirectory()).sort())
      .toEqual([path.join('assets', 'testing', 'index.d.ts'), path.join('assets', 'testing', 'index', 'index.js')]);
    for (const dep of ['@aws-sdk', '@smithy', '@types']) {
      fs.symlinkSync(path.join(root, 'node_modules', dep), path.join(work, 'node_modules', dep), 'dir');
    }
    const example = documentedExample();
    fs.mkdirSync(path.join(work, 'lambda'));
    fs.mkdirSync(path.join(work, 'test'));
    fs.writeFileSync(path.join(work, 'lambda', 'my-worker.ts'), example.worker);
    fs.writeFileSync(path.join(work, 'test', 'my-worker.test.ts'), example.test);
    // Strict type check with Node's module resolution (the subpaths' `exports` and their declaration files).
    const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '--noEmit', '--strict', '--target', 'es2022',
      '--module', 'nodenext', '--lib', 'es2022,dom', '--types', 'node,jest', 'lambda/my-worker.ts', 'test/my-worker.test.ts'],
    { cwd: work, encoding: 'utf8', timeout: 120_000 });
    expect(tsc.stdout + tsc.stderr).toBe('');
    // jest with ts-jest transpiling (types were checked above).
    fs.writeFileSync(path.join(work, 'jest.config.json'), JSON.stringify({
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': [require.resolve('ts-jest'), { tsconfig: { module: 'commonjs', target: 'es2022', isolatedModules: true } }] },
    }));
    const jest = spawnSync(process.execPath, [require.resolve('jest/bin/jest'), '--ci', '--coverage=false', '--config', 'jest.config.json'],
      { cwd: work, encoding: 'utf8', timeout: 120_000 });
    expect(jest.stderr).toMatch(/Tests: +3 passed, 3 total/);
    expect(jest.status).toBe(0);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}, 180_000);
