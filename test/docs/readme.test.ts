import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.join(__dirname, '..', '..');
const read = (f: string) => fs.readFileSync(path.join(root, f), 'utf8');
/** TypeScript code blocks (`ts`, or `tsx` for the TypeScript-only examples jsii-rosetta must not translate). */
const codeBlocks = (md: string) => [...md.matchAll(/```tsx?\n([\s\S]*?)```/g)].map((m) => m[1]);

test('the README worker kit example is the one docs/worker-kit.md type-checks', () => {
  const readme = read('README.md');
  const section = readme.slice(readme.indexOf('## Worker kit'), readme.indexOf('## Teams SSO'));
  const blocks = codeBlocks(section);
  expect(blocks.length).toBeGreaterThanOrEqual(2);
  const kitDoc = codeBlocks(read('docs/worker-kit.md'));
  for (const b of blocks) expect(kitDoc).toContain(b);
});

test('the README opens with the two fresh-machine commands (the playground, then the whole test suite), and .ci/run runs the second', () => {
  const readme = read('README.md');
  const firstBlock = readme.match(/```bash\n([\s\S]*?)```/)![1];
  const commands = firstBlock.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  expect(commands).toHaveLength(2);
  // The first command starts the playground (the shipped bin, test/playground/ runs it); the offline synth stays documented.
  expect(commands[0]).toContain(`node ${pkg.bin['teams-bot-playground']}`);
  expect(readme).toContain('(cd examples/basic && npx cdk synth)');
  expect(read('.ci/run')).toContain(commands[1].replace(/^npm ci && /, ''));
});

const pkg = JSON.parse(read('package.json'));

test('the README opens with what it is, links SECURITY.md, and has an install line per jsii target with its name', () => {
  const readme = read('README.md');
  const intro = readme.slice(0, readme.indexOf('\n## '));
  expect(intro).toContain('[SECURITY.md](SECURITY.md)');
  const install = readme.slice(readme.indexOf('## Install'), readme.indexOf('\n## ', readme.indexOf('## Install') + 1));
  const { python, java, dotnet, go } = pkg.jsii.targets;
  expect(install).toContain(`\`npm install ${pkg.name}\``);
  expect(install).toContain(`\`pip install ${python.distName}\``);
  expect(install).toContain(`<groupId>${java.maven.groupId}</groupId><artifactId>${java.maven.artifactId}</artifactId>`);
  expect(install).toContain(`implementation("${java.maven.groupId}:${java.maven.artifactId}:`);
  expect(install).toContain(`\`dotnet add package ${dotnet.packageId}\``);
  expect(install).toContain(`\`go get ${go.moduleName}/${go.packageName ?? 'cdkteamsdelegatedauthbot'}\``);
  // The user's path comes before the contributors' commands.
  expect(readme.indexOf('## From install to a conversation')).toBeLessThan(readme.indexOf('## On a fresh clone'));
  expect(readme).toMatch(/Node\.js ≥ 22/);
});

/** GitHub's heading anchors: lower case, punctuation removed, spaces to hyphens. */
function anchors(md: string): Set<string> {
  const seen = new Set<string>();
  for (const m of md.replace(/```[\s\S]*?```/g, '').matchAll(/^#{1,6} (.+)$/gm)) {
    seen.add(m[1].trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-'));
  }
  return seen;
}

/** Relative Markdown links `[text](target)` outside code blocks. */
function relativeLinks(md: string): string[] {
  const prose = md.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t));
}

test('every relative link of the README resolves inside the npm tarball (npm and Construct Hub show it from there)', () => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const files = new Set<string>(JSON.parse(out)[0].files.map((f: { path: string }) => f.path));
  const readme = read('README.md');
  const links = relativeLinks(readme);
  expect(links.length).toBeGreaterThan(10);
  const broken: string[] = [];
  for (const link of links) {
    const [file, anchor] = link.split('#');
    const target = file === '' ? 'README.md' : path.posix.normalize(file.replace(/^\.\//, ''));
    if (!files.has(target)) {
      broken.push(`${link}: ${target} is not in the tarball`);
    } else if (anchor !== undefined && target.endsWith('.md') && !anchors(fs.readFileSync(path.join(root, target), 'utf8')).has(anchor)) {
      broken.push(`${link}: no heading #${anchor} in ${target}`);
    }
  }
  expect(broken).toEqual([]);
});

test('the link check is not vacuous: a link outside the tarball and a missing anchor are reported', () => {
  expect(relativeLinks('see [x](bench/run.ts) and [y](https://example.com) and `[z](a.md)`')).toEqual(['bench/run.ts']);
  expect(anchors('# Setup in the portal\n## Teams SSO\n```\n# not a heading\n```')).toEqual(new Set(['setup-in-the-portal', 'teams-sso']));
});

test('CHANGELOG.md: the first release is the version the release workflow computes without a tag; upgrade notes per release', () => {
  const changelog = read('CHANGELOG.md');
  const releases = [...changelog.matchAll(/^## (\d+\.\d+\.\d+)/gm)].map((m) => m[1]);
  expect(releases[0]).toBe('0.1.0');
  const tasks = JSON.parse(read('.projen/tasks.json')).tasks;
  const command: string = tasks['bump:next-version'].steps[0].exec;
  const next = (env: Record<string, string>) => execFileSync('bash', ['-c', command], { env: { PATH: process.env.PATH!, ...env }, encoding: 'utf8' }).trim();
  expect(next({ VERSION: '0.0.0', SUGGESTED_BUMP: 'patch' })).toBe('0.1.0');
  expect(next({ VERSION: '0.1.0', LATEST_TAG: 'v0.1.0', SUGGESTED_BUMP: 'major' })).toBe('minor');
  expect(next({ VERSION: '0.1.0', LATEST_TAG: 'v0.1.0', SUGGESTED_BUMP: 'patch' })).toBe('');
  expect(next({ VERSION: '1.2.0', LATEST_TAG: 'v1.2.0', SUGGESTED_BUMP: 'major' })).toBe('');
  for (const section of changelog.split(/^## (?=\d)/m).slice(1)) {
    expect(section).toMatch(/^### Upgrade notes/m);
  }
});
