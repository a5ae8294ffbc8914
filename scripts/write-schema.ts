// Regenerates schema/tether.schema.json from the manifest's zod schema.
import { writeFileSync } from 'node:fs';
import { manifestJsonSchemaText } from '../src/manifest/json-schema.js';

writeFileSync(new URL('../schema/tether.schema.json', import.meta.url), manifestJsonSchemaText());
console.log('wrote schema/tether.schema.json');
