/**
 * The Teams app package: manifest.json (Teams manifest schema v1.29), color.png and outline.png, zipped at the root
 * of the archive as Teams expects. No dependency beyond node built-ins and fflate (inlined by esbuild).
 */
// eslint-disable-next-line import/no-extraneous-dependencies -- inlined into the CLI bundle by esbuild
import { zipSync } from 'fflate';
import { colorIcon, outlineIcon, parseHexColor, readPngHeader } from './png';
import { manifestSchemaErrors } from './schema';
import { isGuid } from '../../src/private/shared-data';

/** The manifest schema version the tool writes (and validates against: `schemas/teams-manifest/`). */
export const MANIFEST_VERSION = '1.29';

/** The `$schema` URL of that version. */
export const MANIFEST_SCHEMA_URL = `https://developer.microsoft.com/json-schemas/teams/v${MANIFEST_VERSION}/MicrosoftTeams.schema.json`;

/** Scopes a bot can be installed in (the ones this tool offers; `copilot` is left out on purpose). */
export const BOT_SCOPES = ['personal', 'team', 'groupChat'] as const;
/** One of {@link BOT_SCOPES}. */
export type BotScope = (typeof BOT_SCOPES)[number];

/** A command shown in Teams' command menu. */
export interface BotCommand {
  readonly title: string;
  readonly description: string;
}

/** Everything the manifest is built from (already validated by {@link validateOptions}). */
export interface AppPackageOptions {
  /** The bot's Microsoft App ID (Entra app registration client id). */
  readonly appId: string;
  /** The Teams app id; defaults to the bot's app id. */
  readonly teamsAppId?: string;
  /** Short name (at most 30 characters). */
  readonly name: string;
  /** Full name (at most 100 characters). */
  readonly fullName?: string;
  /** The messaging endpoint URL (https); its host goes to validDomains. */
  readonly endpoint: string;
  readonly shortDescription: string;
  readonly fullDescription: string;
  readonly developerName: string;
  readonly websiteUrl: string;
  readonly privacyUrl: string;
  readonly termsOfUseUrl: string;
  /** App version, semver `x.y.z`. */
  readonly version: string;
  /** `#rrggbb`, also the colour icon's background. */
  readonly accentColor: string;
  /** The SSO resource (Application ID URI); defaults to `api://botid-{appId}`. */
  readonly ssoResource?: string;
  /** Extra validDomains entries besides the endpoint's host. */
  readonly extraValidDomains?: readonly string[];
  readonly scopes: readonly BotScope[];
  readonly commands: readonly BotCommand[];
  /** Your colour icon (PNG, 192×192); default: drawn in the accent colour. */
  readonly colorIcon?: Uint8Array;
  /** Your outline icon (PNG, 32×32, white on transparent); default: drawn. */
  readonly outlineIcon?: Uint8Array;
}

/** Icon sizes the Teams manifest requires. */
export const ICON_SIZES = { color: 192, outline: 32 } as const;

/** A usage problem in the options: the CLI prints the message and exits with status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;
// A domain for validDomains: host names (optionally `*.` wildcard), no scheme, no path.
const DOMAIN = /^(\*\.)?([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}(:\d{1,5})?$/;

function checkLength(flag: string, value: string, max: number): void {
  if (value.length === 0) {
    throw new UsageError(`${flag} must not be empty`);
  }
  if (value.length > max) {
    throw new UsageError(`${flag} is ${value.length} characters long; the Teams manifest allows at most ${max}`);
  }
}

function checkHttpsUrl(flag: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${flag} ${JSON.stringify(value)} is not a URL`);
  }
  if (url.protocol !== 'https:') {
    throw new UsageError(`${flag} ${JSON.stringify(value)} must be an https:// URL`);
  }
  if (value.length > 2048) {
    throw new UsageError(`${flag} is longer than 2048 characters`);
  }
  return url;
}

/** Validates the options against the manifest's constraints; throws {@link UsageError} naming the flag. */
export function validateOptions(o: AppPackageOptions): void {
  if (!isGuid(o.appId)) {
    throw new UsageError(`--app-id ${JSON.stringify(o.appId)} is not a GUID (the Entra application (client) id)`);
  }
  if (o.teamsAppId !== undefined && !isGuid(o.teamsAppId)) {
    throw new UsageError(`--teams-app-id ${JSON.stringify(o.teamsAppId)} is not a GUID`);
  }
  checkLength('--name', o.name, 30);
  if (o.fullName !== undefined) {
    checkLength('--full-name', o.fullName, 100);
  }
  checkLength('--short-description', o.shortDescription, 80);
  checkLength('--full-description', o.fullDescription, 4000);
  checkLength('--developer-name', o.developerName, 32);
  checkHttpsUrl('--endpoint', o.endpoint);
  checkHttpsUrl('--website-url', o.websiteUrl);
  checkHttpsUrl('--privacy-url', o.privacyUrl);
  checkHttpsUrl('--terms-url', o.termsOfUseUrl);
  if (!SEMVER.test(o.version)) {
    throw new UsageError(`--app-version ${JSON.stringify(o.version)} must be a semantic version x.y.z`);
  }
  try {
    parseHexColor(o.accentColor);
  } catch {
    throw new UsageError(`--accent-color ${JSON.stringify(o.accentColor)} must be #rrggbb`);
  }
  if (o.ssoResource !== undefined) {
    checkLength('--sso-resource', o.ssoResource, 2048);
  }
  for (const d of o.extraValidDomains ?? []) {
    if (!DOMAIN.test(d)) {
      throw new UsageError(`--valid-domain ${JSON.stringify(d)} must be a host name such as login.example.com (no scheme, no path)`);
    }
  }
  if (o.scopes.length === 0) {
    throw new UsageError('--scopes must name at least one of ' + BOT_SCOPES.join(', '));
  }
  for (const s of o.scopes) {
    if (!(BOT_SCOPES as readonly string[]).includes(s)) {
      throw new UsageError(`--scopes: unknown scope ${JSON.stringify(s)}; use ${BOT_SCOPES.join(', ')}`);
    }
  }
  if (o.commands.length > 10) {
    throw new UsageError(`at most 10 commands per scope are shown by Teams; got ${o.commands.length}`);
  }
  for (const c of o.commands) {
    checkLength('--command title', c.title, 32);
    checkLength('--command description', c.description, 128);
  }
  validateIcons(o);
}

function checkIcon(flag: string, png: Uint8Array, size: number, alpha: boolean): void {
  let header;
  try {
    header = readPngHeader(png);
  } catch {
    throw new UsageError(`${flag}: not a PNG file`);
  }
  if (header.width !== size || header.height !== size) {
    throw new UsageError(`${flag}: the icon is ${header.width}x${header.height}; Teams requires ${size}x${size} pixels`);
  }
  if (alpha && header.colorType !== 4 && header.colorType !== 6) {
    throw new UsageError(`${flag}: the outline icon needs a transparent background (a PNG with an alpha channel)`);
  }
}

function validateIcons(o: AppPackageOptions): void {
  if (o.colorIcon !== undefined) {
    checkIcon('--color-icon', o.colorIcon, ICON_SIZES.color, false);
  }
  if (o.outlineIcon !== undefined) {
    checkIcon('--outline-icon', o.outlineIcon, ICON_SIZES.outline, true);
  }
}

/** The host the validDomains entry names: the endpoint's host name (with its port when not 443). */
export function endpointDomain(endpoint: string): string {
  return new URL(endpoint).host;
}

/** Builds manifest.json's object (validate the options first). */
export function buildManifest(o: AppPackageOptions): Record<string, unknown> {
  const validDomains = [endpointDomain(o.endpoint)];
  for (const d of o.extraValidDomains ?? []) {
    if (!validDomains.includes(d)) {
      validDomains.push(d);
    }
  }
  const bot: Record<string, unknown> = {
    botId: o.appId,
    scopes: [...o.scopes],
    supportsFiles: false,
    isNotificationOnly: false,
  };
  if (o.commands.length > 0) {
    // One command list per scope (Teams shows a list per scope; the schema allows three lists).
    bot.commandLists = o.scopes.map((scope) => ({
      scopes: [scope],
      commands: o.commands.map((c) => ({ title: c.title, description: c.description })),
    }));
  }
  return {
    $schema: MANIFEST_SCHEMA_URL,
    manifestVersion: MANIFEST_VERSION,
    version: o.version,
    id: o.teamsAppId ?? o.appId,
    developer: {
      name: o.developerName,
      websiteUrl: o.websiteUrl,
      privacyUrl: o.privacyUrl,
      termsOfUseUrl: o.termsOfUseUrl,
    },
    name: o.fullName !== undefined ? { short: o.name, full: o.fullName } : { short: o.name },
    description: { short: o.shortDescription, full: o.fullDescription },
    icons: { color: 'color.png', outline: 'outline.png' },
    accentColor: o.accentColor,
    bots: [bot],
    permissions: ['identity', 'messageTeamMembers'],
    validDomains,
    webApplicationInfo: {
      id: o.appId,
      resource: o.ssoResource ?? `api://botid-${o.appId}`,
    },
  };
}

/** A manifest the shipped schema refuses (a defect of this tool or of options it did not check): exit status 1. */
export class ManifestSchemaError extends Error {
  constructor(readonly problems: string[]) {
    super(`the manifest does not match the Teams app manifest schema v${MANIFEST_VERSION}:\n  ${problems.join('\n  ')}`);
    this.name = 'ManifestSchemaError';
  }
}

/** The files of the package, by name at the archive's root. The manifest is checked against the shipped schema. */
export function buildPackageFiles(o: AppPackageOptions): Record<string, Uint8Array> {
  validateOptions(o);
  const manifest = buildManifest(o);
  const problems = manifestSchemaErrors(manifest);
  if (problems.length > 0) {
    throw new ManifestSchemaError(problems);
  }
  return {
    'manifest.json': new TextEncoder().encode(JSON.stringify(manifest, null, 2) + '\n'),
    'color.png': o.colorIcon ?? colorIcon(o.accentColor),
    'outline.png': o.outlineIcon ?? outlineIcon(),
  };
}

/** The zipped package. Deterministic: the same options give the same bytes (fixed timestamps). */
export function buildPackageZip(o: AppPackageOptions): Uint8Array {
  const files = buildPackageFiles(o);
  // 1980-01-01 local midnight is the earliest time a zip entry can hold (the DOS date format starts there).
  const mtime = new Date(1980, 0, 1, 0, 0, 0);
  const entries: Record<string, [Uint8Array, { mtime: Date }]> = {};
  for (const [name, data] of Object.entries(files)) {
    entries[name] = [data, { mtime }];
  }
  return zipSync(entries, { level: 9 });
}
