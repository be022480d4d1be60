// Empties dist/ before a build, so files of deleted sources never ship or run as tests.
import { rmSync } from 'node:fs';

rmSync(new URL('../dist/', import.meta.url), { recursive: true, force: true });
