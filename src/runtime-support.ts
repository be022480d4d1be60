/**
 * What JavaScript runtimes other than Node.js lack for this library, reported
 * as `UNSUPPORTED` (naming the runtime and the missing piece) by the first call
 * that needs it, before anything is created on disk.
 */
import { LocalSocketError } from './errors.js';
import type { PlatformInfo } from './platform.js';

/**
 * A server on a Unix socket path takes the per-path name lock, an abstract
 * socket address that fills all 108 bytes of sun_path: the address every Node
 * version binds, so servers in different processes see each other's locks.
 * Bun's node:net refuses an abstract address of that length (EINVAL), so a Bun
 * server could neither take nor honour the lock.
 *
 * @param p - the platform the server binds on.
 * @throws {@link LocalSocketError} `UNSUPPORTED` on Bun on Linux.
 */
export function checkServerRuntime(p: PlatformInfo): void {
  const bun = (process.versions as Record<string, string | undefined>).bun;
  if (bun !== undefined && p.platform === 'linux') {
    throw new LocalSocketError(
      'UNSUPPORTED',
      `listen: Bun ${bun} cannot bind an abstract socket address of 108 bytes (all of sun_path), which the name lock of a Unix socket server needs; run the server on Node.js`,
    );
  }
}
