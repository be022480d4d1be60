/**
 * A bench worker process: serves the `commands` of one scenario module over the
 * IPC channel. Started by spawnWorker() in common.ts; never run by hand.
 */
import type { Commands } from './common.js';

const moduleName = process.argv[2];
if (!moduleName || !/^[a-z-]+$/.test(moduleName)) {
  console.error('usage: worker.js <scenario>');
  process.exit(2);
}

const mod = (await import(`./${moduleName}.js`)) as { commands: Commands };

process.on('message', (msg: { id: number; cmd: string; args?: unknown }) => {
  if (msg.cmd === '__exit') {
    process.exit(0);
  }
  const command = mod.commands[msg.cmd];
  if (!command) {
    process.send!({ id: msg.id, ok: false, error: `unknown command ${msg.cmd}` });
    return;
  }
  Promise.resolve()
    .then(() => command(msg.args))
    .then(
      (value) => process.send!({ id: msg.id, ok: true, value }),
      (err: unknown) => process.send!({ id: msg.id, ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) }),
    );
});
process.on('disconnect', () => process.exit(0));
process.send!({ ready: true });
