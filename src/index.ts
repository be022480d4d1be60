export { LocalSocketError, ErrorCodes, isLocalSocketError, type ErrorCode } from './errors.js';
export { LocalSocket, connect, type SocketState, type LocalSocketEvents } from './socket.js';
export { LocalServer, listen, type ServerState, type LocalServerEvents } from './server.js';
export { resolveName, type Endpoint, type EndpointKind, type NameOptions, type ResolveOptions } from './endpoint/names.js';
export type { PlatformInfo } from './endpoint/platform.js';
export type { ConnectOptions, ServerOptions, SocketLimits } from './options.js';
export type { Access } from './endpoint/bind.js';
export type { WaitOptions } from './deadline.js';
export type { RemoteErrorDetail } from './errors.js';
/** Messages over a connected socket: JSON and binary frames, JSON-RPC 2.0 requests and notifications (SPEC 6). */
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
/** The frame format, for peers and tools that speak it without a MessageSocket (docs/PROTOCOL.md). */
export { FrameDecoder, FrameType, encodeFrameHeader, FRAME_HEADER_BYTES, DEFAULT_MAX_MESSAGE_SIZE, type FrameHandler, type FrameSliceHandler } from './messages/frame.js';
/** JSON-RPC error codes, and the error a handler throws to choose its reply's code. */
export { RpcError, RpcErrorCode, CANCEL_METHOD } from './messages/rpc.js';
export { CloseCode, CLOSE_METHOD, MAX_CLOSE_REASON_BYTES, type CloseInfo, type CloseOptions } from './messages/close.js';
/** Typed contracts: a protocol declared once as a type, checked by the compiler on both sides (types only). */
export type {
  MessageContract, ContractSide, Untyped, UntypedSide, Role, OtherRole, SideOf, RequestsOf, NotificationsOf,
  RequestMethod, RequestParams, RequestResult, RequestArgs, NotificationMethod, NotificationParams, NotifyArgs, NotifyWaitArgs,
  ContractRequestHandler, ContractNotificationHandler,
} from './messages/contract.js';
/** A message server: the peer list, handlers shared by every peer, broadcast that a slow peer cannot stall. */
export {
  MessageServer, listenMessages,
  type MessageServerOptions, type MessageServerEvents,
} from './messages/message-server.js';
/** A message client that reconnects with backoff and jitter; requests are at most once. */
export {
  ReconnectingClient, connectReconnecting, backoffDelay,
  type ReconnectOptions, type ReconnectState, type ReconnectingClientEvents,
} from './messages/reconnecting-client.js';
/** Single-instance apps: the first process is the primary, later ones hand it their argv and cwd. */
export {
  singleInstance, PrimaryInstance, SECOND_INSTANCE_METHOD,
  type SingleInstanceOptions, type SecondaryInstance, type SecondInstanceInfo, type PrimaryInstanceEvents,
} from './messages/single-instance.js';
/** diagnostics_channel names (docs/DIAGNOSTICS.md lists each payload). */
export { DiagnosticChannels } from './diagnostics.js';
