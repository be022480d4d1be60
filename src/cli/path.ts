/** `localsocket path NAME`: where a name lives, without contacting it. */
import { findPublishedPipe } from '../endpoint/pipe-record.js';
import { resolveName, type Endpoint } from '../endpoint/names.js';
import { currentPlatform } from '../endpoint/platform.js';
import { flag, nameOptions, NAME_OPTIONS, optionsHelp, type OptionSpecs, type Values } from './args.js';
import { displayAddress, EXIT } from './output.js';

export const PATH_OPTIONS: OptionSpecs = { ...NAME_OPTIONS, raw: { type: 'boolean', description: 'the name as a raw-mode (unauthenticated) peer sees it' } };

export const PATH_HELP = `Usage: localsocket path NAME [options]

Prints the endpoint NAME resolves to: a socket file path, a Windows pipe name,
or @NAME for a Linux abstract name. Nothing is created or contacted.

On Windows a short name (with authentication, the default) has no fixed pipe:
each server picks a random one and publishes it in a record file in
%LOCALAPPDATA%\\localsocket\\pipes. The pipe read from there is printed, and
where it came from on stderr; with no live server, SERVER_NOT_FOUND. Full
names (\\\\.\\pipe\\...), --qt and --raw names are the plain \\\\.\\pipe\\NAME.

Options:
${optionsHelp(PATH_OPTIONS)}`;

/** Where a Windows pipe name came from, in words. */
function pipeSource(name: string, endpoint: Endpoint, values: Values): string {
  if (endpoint.address === name) return 'spelt out in full';
  if (flag(values, 'qt')) return 'Qt-compatible name: the plain pipe';
  return 'raw mode: the plain pipe';
}

export function runPath(values: Values, name: string): number {
  const platform = currentPlatform();
  const endpoint = resolveName(name, { ...nameOptions(values), auth: !flag(values, 'raw') }, platform);
  if (endpoint.record) {
    // The pipe a client would dial now: read from the record, only while its server is alive.
    const found = findPublishedPipe(endpoint.address, platform);
    process.stdout.write(`${found.pipe}\n`);
    process.stderr.write(`from: record file ${found.record} (server pid ${found.pid})\n`);
    return EXIT.ok;
  }
  process.stdout.write(`${displayAddress(endpoint)}\n`);
  if (endpoint.kind === 'pipe') process.stderr.write(`from: ${pipeSource(name, endpoint, values)}\n`);
  return EXIT.ok;
}
