// Prints the user's socket directory (where short names live) and its entries,
// one per line, for the CI check that a test run leaves nothing behind.
// Uses the real environment of the caller, unlike `npm test`, which sandboxes itself.
import { readdirSync } from 'node:fs';
import { privateDirectory } from '../dist/src/endpoint/names.js';
import { currentPlatform } from '../dist/src/endpoint/platform.js';

const dir = privateDirectory(currentPlatform());
let entries = [];
try {
  entries = readdirSync(dir).sort();
} catch {
  // No directory: nothing in it.
}
console.log(`# ${dir}`);
for (const entry of entries) console.log(entry);
