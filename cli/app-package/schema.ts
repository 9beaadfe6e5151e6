/**
 * Run-time check of manifest.json against the Teams app manifest JSON schema the package ships
 * (`schemas/teams-manifest/`, the public schema of the version the tool writes). Ajv and ajv-formats are inlined
 * into the tool's bundle by esbuild.
 */
import { readFileSync } from 'node:fs';
// eslint-disable-next-line import/no-extraneous-dependencies -- inlined into the CLI bundle by esbuild
import Ajv, { ValidateFunction } from 'ajv';
// eslint-disable-next-line import/no-extraneous-dependencies -- inlined into the CLI bundle by esbuild
import addFormats from 'ajv-formats';
import { packageFile } from '../shared/package';

/** The schema file, from the package root. Its version is the one `MANIFEST_VERSION` names (checked by the tests). */
export const MANIFEST_SCHEMA_PATH = 'schemas/teams-manifest/MicrosoftTeams.schema.v1.29.json';

let compiled: ValidateFunction | undefined;

/**
 * The compiled validator. The file declares draft-04 but uses draft-06/07 keywords (`const`, `if`/`then`), so it is
 * compiled with Ajv's default draft-07 dialect with `$schema` removed; `strict: false` because it lists `required`
 * entries without matching `properties` (schemas/teams-manifest/SOURCE.md).
 */
export function manifestValidator(): ValidateFunction {
  if (compiled === undefined) {
    const { $schema: _draft, ...schema } = JSON.parse(readFileSync(packageFile(MANIFEST_SCHEMA_PATH), 'utf8')) as Record<string, unknown>;
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    compiled = ajv.compile(schema);
  }
  return compiled;
}

/** The schema's complaints about a manifest, one line each (`/path: message`); empty when it is valid. */
export function manifestSchemaErrors(manifest: unknown): string[] {
  const validate = manifestValidator();
  if (validate(manifest)) {
    return [];
  }
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'}: ${e.message ?? e.keyword}`);
}
