/** `localsocket path NAME`: where a name lives, without touching it. */
import { resolveName } from '../names.js';
import { currentPlatform } from '../platform.js';
import { nameOptions, NAME_OPTIONS, type OptionSpecs, type Values } from './args.js';
import { displayAddress, EXIT } from './output.js';

export const PATH_OPTIONS: OptionSpecs = { ...NAME_OPTIONS };

export const PATH_HELP = `Usage: localsocket path NAME [options]

Prints the endpoint NAME resolves to: a socket file path, a Windows pipe name
(\\\\.\\pipe\\NAME), or @NAME for a Linux abstract name. Nothing is created or
contacted.

Options:
  --qt                   resolve NAME as Qt's QLocalServer/QLocalSocket do
  --abstract             Linux abstract namespace
  -h, --help             show this help`;

export function runPath(values: Values, name: string): number {
  const endpoint = resolveName(name, nameOptions(values), currentPlatform());
  process.stdout.write(`${displayAddress(endpoint)}\n`);
  return EXIT.ok;
}
