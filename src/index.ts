export { LocalSocketError, ErrorCodes, isLocalSocketError, type ErrorCode } from './errors.js';
export { LocalSocket, connect, type SocketState, type LocalSocketEvents } from './socket.js';
export { LocalServer, listen, type ServerState, type LocalServerEvents } from './server.js';
export { resolveName, type Endpoint, type EndpointKind, type NameOptions } from './names.js';
export type { PlatformInfo } from './platform.js';
export type { ConnectOptions, ServerOptions, SocketLimits } from './options.js';
export type { Access } from './bind.js';
export type { WaitOptions } from './deadline.js';
