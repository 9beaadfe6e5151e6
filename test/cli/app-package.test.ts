import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as zlib from 'node:zlib';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { unzipSync } from 'fflate';
import { main, parseCli, readStackOutputs } from '../../cli/app-package';
import { AppPackageOptions, buildManifest, buildPackageZip, MANIFEST_VERSION } from '../../cli/app-package/manifest';
import { colorIcon, crc32, encodePng, outlineIcon, readPngHeader } from '../../cli/app-package/png';
import { MANIFEST_SCHEMA_PATH, manifestSchemaErrors } from '../../cli/app-package/schema';
import { buildBundleArgs } from '../support/handler-bundle';

const ROOT = join(__dirname, '..', '..');
const SCHEMA_FILE = join(ROOT, MANIFEST_SCHEMA_PATH);
const APP_ID = '6f1c2d3e-4a5b-4c6d-8e7f-901234567890';
const ENDPOINT = 'https://abcdefghij.lambda-url.eu-west-1.on.aws/api/messages';

function loadValidator() {
  const { $schema, ...schema } = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8'));
  expect($schema).toBe('http://json-schema.org/draft-04/schema#');
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  return { validate: ajv.compile(schema), schema };
}
const { validate, schema } = loadValidator();

function options(overrides: Partial<AppPackageOptions> = {}): AppPackageOptions {
  return {
    appId: APP_ID,
    name: 'Graph Bot',
    endpoint: ENDPOINT,
    shortDescription: 'Answers as you.',
    fullDescription: 'A bot that works with your delegated Microsoft Graph permissions.',
    developerName: 'Contoso IT',
    websiteUrl: 'https://contoso.example/bot',
    privacyUrl: 'https://contoso.example/privacy',
    termsOfUseUrl: 'https://contoso.example/terms',
    version: '1.2.3',
    accentColor: '#4F52B2',
    scopes: ['personal', 'team', 'groupChat'],
    commands: [{ title: 'sign out', description: 'Forget my sign-in' }],
    ...overrides,
  };
}

interface DecodedPng { width: number; height: number; colorType: number; bitDepth: number; pixels: Buffer; chunkTypes: string[] }

/** A small independent PNG reader: checks signature and chunk CRCs (zlib.crc32), inflates IDAT, undoes filter 0. */
function decodePng(png: Uint8Array): DecodedPng {
  const buf = Buffer.from(png);
  expect(buf.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  let off = 8;
  const chunkTypes: string[] = [];
  const idat: Buffer[] = [];
  let width = 0; let height = 0; let colorType = -1; let bitDepth = -1;
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('ascii', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    const crc = buf.readUInt32BE(off + 8 + len);
    expect(zlib.crc32(buf.subarray(off + 4, off + 8 + len))).toBe(crc);
    chunkTypes.push(type);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4); bitDepth = data[8]; colorType = data[9];
      expect([data[10], data[11], data[12]]).toEqual([0, 0, 0]);
    } else if (type === 'IDAT') {
      idat.push(data);
    }
    off += 12 + len;
  }
  expect(off).toBe(buf.length);
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * 4;
  expect(raw.length).toBe((stride + 1) * height);
  const pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (stride + 1)]).toBe(0);
    raw.copy(pixels, y * stride, y * (stride + 1) + 1, (y + 1) * (stride + 1));
  }
  return { width, height, colorType, bitDepth, pixels, chunkTypes };
}

describe('Teams app package', () => {
  test('the fixture schema is the version the tool writes', () => {
    expect(schema.properties.manifestVersion.const).toBe(MANIFEST_VERSION);
  });

  test('the zip holds manifest.json and the two icons at its root, and the manifest is valid', () => {
    const files = unzipSync(buildPackageZip(options()));
    expect(Object.keys(files).sort()).toEqual(['color.png', 'manifest.json', 'outline.png']);
    const manifest = JSON.parse(new TextDecoder().decode(files['manifest.json']));
    const ok = validate(manifest);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
    expect(manifest).toMatchObject({
      manifestVersion: MANIFEST_VERSION,
      $schema: `https://developer.microsoft.com/json-schemas/teams/v${MANIFEST_VERSION}/MicrosoftTeams.schema.json`,
      id: APP_ID,
      version: '1.2.3',
      icons: { color: 'color.png', outline: 'outline.png' },
      bots: [{ botId: APP_ID, scopes: ['personal', 'team', 'groupChat'], supportsFiles: false, isNotificationOnly: false }],
      validDomains: ['abcdefghij.lambda-url.eu-west-1.on.aws'],
      webApplicationInfo: { id: APP_ID, resource: `api://botid-${APP_ID}` },
      developer: { name: 'Contoso IT', privacyUrl: 'https://contoso.example/privacy' },
    });
    expect(manifest.bots[0].commandLists).toHaveLength(3);
  });

  test('the validation is not vacuous: a broken manifest fails the schema', () => {
    const good = buildManifest(options());
    const { developer: _dropped, ...noDeveloper } = good;
    expect(validate(noDeveloper)).toBe(false);
    expect(validate({ ...good, webApplicationInfo: { id: 'not-a-guid', resource: 'x' } })).toBe(false);
    expect(validate({ ...good, bots: [{ botId: APP_ID, scopes: ['everywhere'] }] })).toBe(false);
    expect(validate({ ...good, manifestVersion: '1.16' })).toBe(false);
    // The tool's own run-time check (the schema the package ships) agrees.
    expect(manifestSchemaErrors(good)).toEqual([]);
    expect(manifestSchemaErrors(noDeveloper)).toEqual([expect.stringMatching(/^\/: must have required property 'developer'/)]);
    expect(manifestSchemaErrors({ ...good, validDomains: Array.from({ length: 101 }, (_, i) => `d${i}.example.com`) }))
      .toEqual(['/validDomains: must NOT have more than 100 items']);
  });

  test('a manifest the shipped schema refuses is not written: the check runs at build time, not only in tests', () => {
    // 101 validDomains pass the option checks (each is a host name) but not the schema (at most 100).
    const extraValidDomains = Array.from({ length: 100 }, (_, i) => `d${i}.example.com`);
    expect(() => buildPackageZip(options({ extraValidDomains }))).toThrow(/does not match the Teams app manifest schema v1\.29:\n {2}\/validDomains: must NOT have more than 100 items/);
  });

  test('custom icons go into the zip as given; wrong sizes, non-PNGs and an outline without alpha are refused', () => {
    const color = colorIcon('#107C10');
    const outline = outlineIcon();
    const files = unzipSync(buildPackageZip(options({ colorIcon: color, outlineIcon: outline, accentColor: '#000000' })));
    expect(Buffer.from(files['color.png'])).toEqual(color);
    expect(Buffer.from(files['outline.png'])).toEqual(outline);
    expect(readPngHeader(color)).toEqual({ width: 192, height: 192, colorType: 6 });
    expect(() => buildPackageZip(options({ colorIcon: outline }))).toThrow('--color-icon: the icon is 32x32; Teams requires 192x192 pixels');
    expect(() => buildPackageZip(options({ outlineIcon: color }))).toThrow('--outline-icon: the icon is 192x192; Teams requires 32x32 pixels');
    expect(() => buildPackageZip(options({ colorIcon: Buffer.from('GIF89a...') }))).toThrow('--color-icon: not a PNG file');
    const rgbOutline = Buffer.from(outline);
    rgbOutline[25] = 2; // IHDR colour type: RGB, no alpha (the CRC no longer matches; the header check does not read it)
    expect(() => buildPackageZip(options({ outlineIcon: rgbOutline }))).toThrow(/--outline-icon: the outline icon needs a transparent background/);
  });

  test('optional parts: custom SSO resource, Teams app id, extra domains, no commands, full name', () => {
    const teamsAppId = '11111111-2222-4333-8444-555555555555';
    const m = buildManifest(options({
      ssoResource: 'api://bot.contoso.example/botid-' + APP_ID,
      teamsAppId,
      extraValidDomains: ['login.microsoftonline.com', 'abcdefghij.lambda-url.eu-west-1.on.aws'],
      commands: [],
      fullName: 'Graph Bot for Contoso with a long name',
      scopes: ['personal'],
    }));
    expect(validate(m)).toBe(true);
    expect(m.id).toBe(teamsAppId);
    expect((m.bots as any)[0].botId).toBe(APP_ID);
    expect((m.bots as any)[0].commandLists).toBeUndefined();
    expect(m.validDomains).toEqual(['abcdefghij.lambda-url.eu-west-1.on.aws', 'login.microsoftonline.com']);
    expect(m.webApplicationInfo).toEqual({ id: APP_ID, resource: 'api://bot.contoso.example/botid-' + APP_ID });
  });

  test('the colour icon is an opaque 192x192 RGBA PNG in the accent colour with a white glyph', () => {
    const files = unzipSync(buildPackageZip(options({ accentColor: '#107C10' })));
    const png = decodePng(files['color.png']);
    expect(png).toMatchObject({ width: 192, height: 192, colorType: 6, bitDepth: 8 });
    expect(png.chunkTypes).toEqual(['IHDR', 'IDAT', 'IEND']);
    let white = 0;
    for (let i = 0; i < png.pixels.length; i += 4) {
      expect(png.pixels[i + 3]).toBe(255);
      if (png.pixels[i] === 255 && png.pixels[i + 1] === 255 && png.pixels[i + 2] === 255) {
        white++;
      }
    }
    expect([...png.pixels.subarray(0, 4)]).toEqual([0x10, 0x7c, 0x10, 255]); // corner: background
    expect(white).toBeGreaterThan(192 * 192 * 0.1);
    expect(white).toBeLessThan(192 * 192 * 0.6);
  });

  test('the outline icon is a 32x32 PNG: white only, transparent background', () => {
    const files = unzipSync(buildPackageZip(options()));
    const png = decodePng(files['outline.png']);
    expect(png).toMatchObject({ width: 32, height: 32, colorType: 6, bitDepth: 8 });
    let transparent = 0; let opaque = 0;
    for (let i = 0; i < png.pixels.length; i += 4) {
      expect([png.pixels[i], png.pixels[i + 1], png.pixels[i + 2]]).toEqual([255, 255, 255]);
      if (png.pixels[i + 3] === 0) transparent++;
      if (png.pixels[i + 3] === 255) opaque++;
    }
    expect(png.pixels[3]).toBe(0); // top-left corner
    expect(transparent).toBeGreaterThan(32 * 32 * 0.3);
    expect(opaque).toBeGreaterThan(32 * 32 * 0.1);
  });

  test('PNG encoder: CRC-32 matches zlib, size mismatches are refused', () => {
    const data = Buffer.from('IEND');
    expect(crc32(data)).toBe(zlib.crc32(data));
    expect(() => encodePng({ width: 2, height: 2, pixels: new Uint8Array(15) })).toThrow(/expected 16 bytes/);
    expect(() => encodePng({ width: 0, height: 2, pixels: new Uint8Array(0) })).toThrow(/invalid image size/);
  });

  test('the package is deterministic', () => {
    expect(Buffer.from(buildPackageZip(options()))).toEqual(Buffer.from(buildPackageZip(options())));
  });

  test.each([
    [{ appId: 'bot' }, /--app-id "bot" is not a GUID/],
    [{ name: 'A name that is far too long for Teams' }, /--name is 37 characters long; the Teams manifest allows at most 30/],
    [{ endpoint: 'http://example.com/api/messages' }, /--endpoint .* must be an https:\/\/ URL/],
    [{ shortDescription: 'x'.repeat(81) }, /--short-description is 81 characters/],
    [{ version: '1.0' }, /--app-version "1.0" must be a semantic version/],
    [{ accentColor: 'blue' }, /--accent-color "blue" must be #rrggbb/],
    [{ extraValidDomains: ['https://login.example.com/x'] }, /--valid-domain .* must be a host name/],
    [{ scopes: ['copilot' as any] }, /unknown scope "copilot"/],
    [{ privacyUrl: 'ftp://x.example' }, /--privacy-url .* must be an https:\/\/ URL/],
  ])('bad option %p is refused', (bad, message) => {
    expect(() => buildPackageZip(options(bad as Partial<AppPackageOptions>))).toThrow(message);
  });
});

describe('teams-bot-app-package command line', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sso-cli-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function run(args: string[]): { status: number; stdout: string; stderr: string } {
    let stdout = '';
    let stderr = '';
    const status = main(args, { stdout: (s) => { stdout += s; }, stderr: (s) => { stderr += s; } });
    return { status, stdout, stderr };
  }

  function manifestOf(zipFile: string): any {
    return JSON.parse(new TextDecoder().decode(unzipSync(readFileSync(zipFile))['manifest.json']));
  }

  test('flags: writes a valid package, warns about placeholder developer URLs', () => {
    const out = join(dir, 'nested', 'app.zip');
    const r = run(['--app-id', APP_ID, '--name', 'Graph Bot', '--endpoint', ENDPOINT, '--out', out, '--command', 'help=What I can do']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(out);
    expect(r.stderr).toMatch(/--website-url not given/);
    expect(r.stderr).toMatch(/--privacy-url not given/);
    const m = manifestOf(out);
    expect(validate(m)).toBe(true);
    expect(m.developer).toEqual({
      name: 'Graph Bot',
      websiteUrl: 'https://abcdefghij.lambda-url.eu-west-1.on.aws/',
      privacyUrl: 'https://abcdefghij.lambda-url.eu-west-1.on.aws/',
      termsOfUseUrl: 'https://abcdefghij.lambda-url.eu-west-1.on.aws/',
    });
    expect(m.bots[0].commandLists[0].commands).toEqual([{ title: 'help', description: 'What I can do' }]);
  });

  test('default command is "sign out"; --no-commands drops the menu', () => {
    const base = ['--app-id', APP_ID, '--name', 'Bot', '--endpoint', ENDPOINT];
    expect(parseCli(base).options!.commands.map((c) => c.title)).toEqual(['sign out']);
    expect(parseCli([...base, '--no-commands']).options!.commands).toEqual([]);
  });

  test('--stack-outputs reads the app id and endpoint; explicit flags win', () => {
    const outputsFile = join(dir, 'outputs.json');
    writeFileSync(outputsFile, JSON.stringify({
      OtherStack: { BucketName: 'b' },
      BotStack: {
        BotMessagingEndpointA1B2C3D4: ENDPOINT,
        BotAppId0D1E2F3A: APP_ID,
        BotRedirectUri99AA88BB: 'https://abcdefghij.lambda-url.eu-west-1.on.aws/auth/callback',
        // Keys that merely contain the names are not the construct's outputs (matching is exact, not by substring).
        MessagingEndpointAppIdNote: 'https://elsewhere.example/api/messages',
        OldAppId: '99999999-9999-4999-8999-999999999999',
        BotMessagingEndpointUrl1A2B3C4D: 'https://wrong.example/api/messages',
      },
    }));
    expect(readStackOutputs(outputsFile)).toEqual({ appId: APP_ID, endpoint: ENDPOINT });
    const out = join(dir, 'a.zip');
    expect(run(['--stack-outputs', outputsFile, '--name', 'Bot', '--out', out]).status).toBe(0);
    expect(manifestOf(out).validDomains).toEqual(['abcdefghij.lambda-url.eu-west-1.on.aws']);
    const r = run(['--stack-outputs', outputsFile, '--name', 'Bot', '--out', out, '--endpoint', 'https://bot.contoso.example/api/messages']);
    expect(r.status).toBe(0);
    expect(manifestOf(out).validDomains).toEqual(['bot.contoso.example']);
  });

  test('--stack-outputs with several bots: --stack and --bot choose one', () => {
    const outputsFile = join(dir, 'outputs.json');
    const other = '22222222-3333-4444-8555-666666666666';
    const third = '33333333-4444-4555-8666-777777777777';
    writeFileSync(outputsFile, JSON.stringify({
      Dev: { BotMessagingEndpoint0A1B2C3D: 'https://dev.example.com/api/messages', BotAppId4E5F6A7B: APP_ID },
      Prod: {
        BotMessagingEndpoint0A1B2C3D: 'https://prod.example.com/api/messages',
        BotAppId4E5F6A7B: other,
        HrBotMessagingEndpointFFEE0011: 'https://hr.example.com/api/messages',
        HrBotAppId22334455: third,
      },
    }));
    const r = run(['--stack-outputs', outputsFile, '--name', 'Bot', '--out', join(dir, 'x.zip')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('several bots (Dev/Bot, Prod/Bot, Prod/HrBot); choose one with --stack Dev --bot Bot or --stack Prod --bot Bot or --stack Prod --bot HrBot');
    expect(readStackOutputs(outputsFile, { stack: 'Dev' })).toEqual({ appId: APP_ID, endpoint: 'https://dev.example.com/api/messages' });
    expect(() => readStackOutputs(outputsFile, { stack: 'Prod' })).toThrow(/several bots \(Prod\/Bot, Prod\/HrBot\)/);
    expect(readStackOutputs(outputsFile, { stack: 'Prod', bot: 'HrBot' })).toEqual({ appId: third, endpoint: 'https://hr.example.com/api/messages' });
    expect(readStackOutputs(outputsFile, { bot: 'HrBot' })).toEqual({ appId: third, endpoint: 'https://hr.example.com/api/messages' });
    expect(() => readStackOutputs(outputsFile, { stack: 'Test' })).toThrow(/no stack named "Test" \(found: Dev, Prod\)/);
    expect(() => readStackOutputs(outputsFile, { stack: 'Dev', bot: 'HrBot' })).toThrow(/stack Dev has no bot named "HrBot" .*found: --stack Dev --bot Bot; --stack Prod --bot Bot; --stack Prod --bot HrBot/);
    const out = join(dir, 'hr.zip');
    expect(run(['--stack-outputs', outputsFile, '--stack', 'Prod', '--bot', 'HrBot', '--name', 'HR', '--out', out]).status).toBe(0);
    expect(manifestOf(out).bots[0].botId).toBe(third);
  });

  test('--stack-outputs: a file without the construct\'s outputs is a usage error', () => {
    const outputsFile = join(dir, 'outputs.json');
    writeFileSync(outputsFile, JSON.stringify({ Other: { Endpoint: ENDPOINT, BotMessagingEndpointUrl: ENDPOINT } }));
    const r = run(['--stack-outputs', outputsFile, '--name', 'Bot']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('no stack has a bot (an output key <bot>MessagingEndpoint<hash>)');
  });

  test('--color-icon and --outline-icon read PNG files; a missing file is a usage error', () => {
    const colorFile = join(dir, 'color.png');
    writeFileSync(colorFile, colorIcon('#C50F1F'));
    const out = join(dir, 'icons.zip');
    const base = ['--app-id', APP_ID, '--name', 'Bot', '--endpoint', ENDPOINT, '--out', out];
    expect(run([...base, '--color-icon', colorFile]).status).toBe(0);
    expect(Buffer.from(unzipSync(readFileSync(out))['color.png'])).toEqual(colorIcon('#C50F1F'));
    const r = run([...base, '--outline-icon', join(dir, 'nope.png')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--outline-icon .*nope\.png: cannot read the file \(ENOENT\)/);
    const wrong = run([...base, '--outline-icon', colorFile]);
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toContain('--outline-icon: the icon is 192x192; Teams requires 32x32 pixels');
  });

  test('--version prints the package version', () => {
    const r = run(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}\n`);
    expect(run(['-v']).stdout).toBe(r.stdout);
  });

  test('usage errors exit 2 with a message naming the flag, and write nothing', () => {
    const out = join(dir, 'never.zip');
    const cases: Array<[string[], RegExp]> = [
      [['--name', 'Bot', '--endpoint', ENDPOINT, '--out', out], /--app-id is required/],
      [['--app-id', APP_ID, '--name', 'Bot', '--out', out], /--endpoint is required/],
      [['--app-id', APP_ID, '--endpoint', ENDPOINT, '--out', out], /--name is required/],
      [['--app-id', APP_ID, '--name', 'Bot', '--endpoint', 'not a url', '--out', out], /--endpoint "not a url" is not a URL/],
      [['--app-id', APP_ID, '--name', 'Bot', '--endpoint', ENDPOINT, '--bogus', '--out', out], /Unknown option '--bogus'/],
      [['--app-id', APP_ID, '--name', 'Bot', '--endpoint', ENDPOINT, '--command', 'nodescription', '--out', out], /title=description/],
      [['--stack-outputs', join(dir, 'missing.json'), '--name', 'Bot', '--out', out], /cannot read JSON/],
      [['--stack', 'Dev', '--app-id', APP_ID, '--name', 'Bot', '--endpoint', ENDPOINT, '--out', out], /--stack needs --stack-outputs/],
      [['--bot', 'Bot', '--app-id', APP_ID, '--name', 'Bot', '--endpoint', ENDPOINT, '--out', out], /--bot needs --stack-outputs/],
      [['--app-id', APP_ID, '--name', 'Bot', '--endpoint', ENDPOINT, '--command', 'a=b', '--no-commands', '--out', out], /exclude each other/],
    ];
    for (const [args, message] of cases) {
      const r = run(args);
      expect({ args, status: r.status }).toEqual({ args, status: 2 });
      expect(r.stderr).toMatch(message);
    }
    expect(() => readFileSync(out)).toThrow();
  });

  test('--help prints the usage', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Usage: teams-bot-app-package/);
  });

  test('the bundle, laid out as in the npm package, runs standalone: node built-ins only, schema and version from the package', () => {
    // A package directory like the installed one: package.json, the shipped schema, the bundle built with the
    // build's own esbuild arguments (.projen/tasks.json) at its bin path.
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    const pkgDir = join(dir, 'node_modules', pkg.name);
    const bundle = join(pkgDir, pkg.bin['teams-bot-app-package']);
    mkdirSync(dirname(bundle), { recursive: true });
    writeFileSync(join(pkgDir, 'package.json'), JSON.stringify({ name: pkg.name, version: '9.8.7' }));
    cpSync(join(ROOT, 'schemas'), join(pkgDir, 'schemas'), { recursive: true });
    const meta = join(dir, 'meta.json');
    execFileSync(join(ROOT, 'node_modules', '.bin', 'esbuild'), [...buildBundleArgs('cli/app-package/index.ts'), '--log-level=error', `--outfile=${bundle}`, `--metafile=${meta}`],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    const outputs = JSON.parse(readFileSync(meta, 'utf8')).outputs;
    const imports = (Object.values(outputs)[0] as { imports: Array<{ path: string; external?: boolean }> }).imports;
    const external = imports.filter((i) => i.external).map((i) => i.path);
    expect(external.filter((p) => !isBuiltin(p))).toEqual([]); // fflate, ajv inlined
    const out = join(dir, 'bundle.zip');
    const r = spawnSync(process.execPath, [bundle, '--app-id', APP_ID, '--name', 'Graph Bot', '--endpoint', ENDPOINT, '--out', out,
      '--website-url', 'https://contoso.example', '--privacy-url', 'https://contoso.example/p', '--terms-url', 'https://contoso.example/t'], {
      cwd: dir, encoding: 'utf8', timeout: 30_000,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(validate(manifestOf(out))).toBe(true);
    const version = spawnSync(process.execPath, [bundle, '--version'], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    expect(version.stdout).toBe('9.8.7\n');
    const bad = spawnSync(process.execPath, [bundle, '--name', 'x'], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    expect(bad.status).toBe(2);
    // Without the shipped schema the tool refuses to write an unchecked package.
    rmSync(join(pkgDir, 'schemas'), { recursive: true });
    const noSchema = spawnSync(process.execPath, [bundle, '--app-id', APP_ID, '--name', 'Graph Bot', '--endpoint', ENDPOINT, '--out', join(dir, 'n.zip')],
      { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    expect(noSchema.status).toBe(1);
    expect(noSchema.stderr).toMatch(/ENOENT.*MicrosoftTeams\.schema\.v1\.29\.json/);
  });
});
