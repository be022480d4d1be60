/**
 * The default of every numeric option, in one leaf module: it imports nothing
 * from the rest of src, so any module may read a default without pulling in
 * the option types or their checks.
 */
export const DEFAULTS = {
  maxReadBuffer: 1024 * 1024,
  maxWriteBuffer: 1024 * 1024,
  connectTimeout: 10_000,
  waitTimeout: 30_000,
  closeTimeout: 10_000,
  handshakeTimeout: 5_000,
  maxPendingConnections: 30,
  maxHandshakes: 64,
} as const;
