export { LocalSocketError, ErrorCodes, isLocalSocketError, type ErrorCode } from './errors.js';
export { LocalSocket, connect, type SocketState, type LocalSocketEvents } from './socket.js';
export { LocalServer, listen, type ServerState, type LocalServerEvents } from './server.js';
export { resolveName, type Endpoint, type EndpointKind, type NameOptions } from './names.js';
export type { PlatformInfo } from './platform.js';
export type { ConnectOptions, ServerOptions, SocketLimits } from './options.js';
export type { Access } from './bind.js';
export type { WaitOptions } from './deadline.js';
export type { RemoteErrorDetail } from './errors.js';
export {
  MessageSocket,
  connectMessages,
  type MessageOptions,
  type RequestOptions,
  type RequestContext,
  type RequestHandler,
  type NotificationHandler,
  type MessageSocketEvents,
} from './messages/message-socket.js';
export { FrameDecoder, FrameType, encodeFrameHeader, FRAME_HEADER_BYTES, DEFAULT_MAX_MESSAGE_SIZE, type FrameHandler } from './messages/frame.js';
export { RpcError, RpcErrorCode, CANCEL_METHOD } from './messages/rpc.js';
