export { LocalSocketError, ErrorCodes, isLocalSocketError, type ErrorCode } from './errors.js';
export { LocalSocket, connect, type SocketState, type LocalSocketEvents } from './socket.js';
export { LocalServer, listen, type ServerState, type LocalServerEvents } from './server.js';
export { resolveName, type Endpoint, type EndpointKind, type NameOptions } from './names.js';
export type { PlatformInfo } from './platform.js';
export type { ConnectOptions, ServerOptions, SocketLimits } from './options.js';
export type { Access } from './bind.js';
export type { WaitOptions } from './deadline.js';
export {
  MessageServer, listenMessages, encodeJsonFrame,
  type MessageServerOptions, type MessageServerEvents, type RequestHandler, type NotificationHandler,
} from './messages/message-server.js';
export {
  ReconnectingClient, connectReconnecting, backoffDelay,
  type ReconnectOptions, type ReconnectState, type ReconnectingClientEvents,
} from './messages/reconnecting-client.js';
export {
  singleInstance, PrimaryInstance, SECOND_INSTANCE_METHOD,
  type SingleInstanceOptions, type SecondaryInstance, type SecondInstanceInfo, type PrimaryInstanceEvents,
} from './messages/single-instance.js';
export { MessageSocket, connectMessages, type MessageOptions, type RequestOptions, type RequestContext, type MessageSocketEvents } from './messages/message-socket.js';
