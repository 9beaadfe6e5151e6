import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.join(__dirname, '..', '..');
const read = (f: string) => fs.readFileSync(path.join(root, f), 'utf8');
const codeBlocks = (md: string) => [...md.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);

test('the README worker kit example is the one docs/worker-kit.md type-checks', () => {
  const readme = read('README.md');
  const section = readme.slice(readme.indexOf('## Worker kit'), readme.indexOf('## Teams SSO'));
  const blocks = codeBlocks(section);
  expect(blocks.length).toBeGreaterThanOrEqual(2);
  const kitDoc = codeBlocks(read('docs/worker-kit.md'));
  for (const b of blocks) expect(kitDoc).toContain(b);
});

test('the README opens with the two fresh-machine commands, and .ci/run runs the second', () => {
  const readme = read('README.md');
  const firstBlock = readme.match(/```bash\n([\s\S]*?)```/)![1];
  const commands = firstBlock.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  expect(commands).toHaveLength(2);
  expect(commands[0]).toContain('cdk synth');
  expect(read('.ci/run')).toContain(commands[1].replace(/^npm ci && /, ''));
});
