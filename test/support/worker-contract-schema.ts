/**
 * The worker contract's JSON Schema as the package ships it (schemas/worker-contract/v2.schema.json, the version the
 * receiver sends), compiled once. v1.schema.json stays as shipped (frozen).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

export const WORKER_CONTRACT_SCHEMA_FILE = path.join(__dirname, '..', '..', 'schemas', 'worker-contract', 'v2.schema.json');

const ajv = new Ajv({ strict: true, allErrors: true });
addFormats(ajv);
const validate = ajv.compile(JSON.parse(fs.readFileSync(WORKER_CONTRACT_SCHEMA_FILE, 'utf8')));

/** The schema's complaints about an event (`/path message`); empty when it is valid. */
export function workerContractSchemaErrors(event: unknown): string[] {
  return validate(event) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword}`);
}
