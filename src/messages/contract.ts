/**
 * Typed contracts: a message protocol declared once, as a TypeScript type,
 * and checked by the compiler on both sides. Types only: nothing here exists
 * at run time, and the message classes behave the same with or without one.
 *
 * A contract names, for each side, the requests it answers (method name to a
 * function type `(params) => result`) and the notifications it receives
 * (method name to the params type):
 *
 * ```ts
 * export interface CalcContract {
 *   server: {
 *     requests: { sum(params: number[]): number; status(): { peers: number } };
 *     notifications: { subscribe: string };
 *   };
 *   client: { notifications: { news: { topic: string; text: string } } };
 * }
 * const client = await connectMessages<CalcContract>('calc');
 * const total = await client.request('sum', [1, 2]); // number
 * ```
 *
 * Without a type argument every method name is allowed and params and
 * results are `unknown`, as before.
 */
import type { WaitOptions } from '../deadline.js';
import type { MessageSocket, RequestContext, RequestOptions } from './message-socket.js';

/** What one side of a contract answers and receives. */
export interface ContractSide {
  /** The requests this side answers: method name to `(params) => result` (a function type; `() => result` for none). */
  requests?: object;
  /** The notifications this side receives: method name to the params type (`undefined` for none). */
  notifications?: object;
}

/** A message protocol declared once for both sides. */
export interface MessageContract {
  /** What the server answers and receives (the client sends these). */
  server?: ContractSide;
  /** What the client answers and receives (the server sends these). */
  client?: ContractSide;
}

/** The side of an untyped contract: any method, `unknown` params and results. */
export interface UntypedSide {
  /** Any method, any params, any result. */
  requests: {
    /** Any method: unknown params, unknown result. */
    [method: string]: (params?: unknown) => unknown;
  };
  /** Any method, any params. */
  notifications: {
    /** Any method: unknown params. */
    [method: string]: unknown;
  };
}

/** The default contract: everything allowed, nothing known (`request()` resolves to `unknown`). */
export interface Untyped {
  /** Anything. */
  server: UntypedSide;
  /** Anything. */
  client: UntypedSide;
}

/** Which end of a connection: a client (connected to a server) or a server's peer. */
export type Role = 'client' | 'server';

/** The other end. */
export type OtherRole<R extends Role> = R extends 'client' ? 'server' : 'client';

/** The half of contract `C` that side `R` answers and receives. */
// `0 extends 1 & C` holds only for `any`: the layer's own view of every socket (AnyMessageSocket) is untyped.
export type SideOf<C, R extends Role> = 0 extends 1 & C ? UntypedSide : C extends { [K in R]: infer S } ? S : Record<never, never>;
/** The requests of a contract side (none when it declares none). */
export type RequestsOf<S> = S extends {
  /** The side's requests. */
  requests: infer Q;
} ? Q : Record<never, never>;
/** The notifications of a contract side (none when it declares none). */
export type NotificationsOf<S> = S extends {
  /** The side's notifications. */
  notifications: infer N;
} ? N : Record<never, never>;

/** The method names of the requests side `R` answers in contract `C`. */
export type RequestMethod<C, R extends Role> = keyof RequestsOf<SideOf<C, R>> & string;

/** The params of request `M` (`undefined` when it takes none). */
export type RequestParams<C, R extends Role, M extends string> =
  RequestsOf<SideOf<C, R>>[M & keyof RequestsOf<SideOf<C, R>>] extends (...args: infer A) => unknown
    ? A extends [] ? undefined : A[0]
    : never;

/** The result of request `M` (a promised result is unwrapped: the wire carries the value). */
export type RequestResult<C, R extends Role, M extends string> =
  RequestsOf<SideOf<C, R>>[M & keyof RequestsOf<SideOf<C, R>>] extends (...args: never) => infer T ? Awaited<T> : never;

/** The notification names side `R` receives in contract `C`. */
export type NotificationMethod<C, R extends Role> = keyof NotificationsOf<SideOf<C, R>> & string;

/** The params of notification `M`. */
export type NotificationParams<C, R extends Role, M extends string> = NotificationsOf<SideOf<C, R>>[M & keyof NotificationsOf<SideOf<C, R>>];

/** The arguments after the method of a request to request `M` of side `R`: params optional when they may be undefined. */
export type RequestArgs<C, R extends Role, M extends string> =
  undefined extends RequestParams<C, R, M>
    ? [params?: RequestParams<C, R, M>, options?: RequestOptions]
    : [params: RequestParams<C, R, M>, options?: RequestOptions];

/** The arguments after the method of a notification `M` to side `R`. */
export type NotifyArgs<C, R extends Role, M extends string> =
  undefined extends NotificationParams<C, R, M> ? [params?: NotificationParams<C, R, M>] : [params: NotificationParams<C, R, M>];

/** As {@link NotifyArgs}, with the wait options of a reconnecting client. */
export type NotifyWaitArgs<C, R extends Role, M extends string> =
  undefined extends NotificationParams<C, R, M>
    ? [params?: NotificationParams<C, R, M>, options?: WaitOptions]
    : [params: NotificationParams<C, R, M>, options?: WaitOptions];

/** A handler on side `R` of request `M`: gets its params, returns (or resolves to) its result. */
export type ContractRequestHandler<C extends MessageContract, R extends Role, M extends string> = (
  params: RequestParams<C, R, M>,
  context: RequestContext<C, R>,
) => RequestResult<C, R, M> | PromiseLike<RequestResult<C, R, M>>;

/** A handler on side `R` of notification `M`. */
export type ContractNotificationHandler<C extends MessageContract, R extends Role, M extends string> = (
  params: NotificationParams<C, R, M>,
  peer: MessageSocket<C, R>,
) => void;

// Internal: how the layer itself holds sockets and handlers of every contract (typed ones are not
// assignable to the untyped defaults, so the maps and back-pointers use these). Not exported by the package.
/* eslint-disable @typescript-eslint/no-explicit-any */
/** @internal A MessageSocket of any contract and role. */
export type AnyMessageSocket = MessageSocket<any, any>;
/** @internal A request handler of any contract. */
export type AnyRequestHandler = (params: any, context: RequestContext<any, any>) => unknown;
/** @internal A notification handler of any contract. */
export type AnyNotificationHandler = (params: any, peer: AnyMessageSocket) => void;
/* eslint-enable @typescript-eslint/no-explicit-any */
