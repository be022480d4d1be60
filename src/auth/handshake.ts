/**
 * The mutual authentication handshake, version 2 (wire format and test
 * vectors in docs/SECURITY.md). One round trip for the client:
 *
 *   client -> server  HELLO         "LSC2" 0 0 0 0 | Nc (32)             40 bytes
 *   server -> client  SERVER PROOF  "LSS2" 0 0 0 0 | Ns (32) | Ms (32)   72 bytes
 *   client -> server  CLIENT PROOF  "LSP2" 0 0 0 0 | Mc (32)             40 bytes, then application data
 *
 *   Ms = HMAC-SHA256(key, "localsocket v2 server" | Nc | Ns)
 *   Mc = HMAC-SHA256(key, "localsocket v2 client" | Nc | Ns)
 *
 * Instead of its proof the server may answer BUSY ("LSB2" 0 0 0 0) and close:
 * no room right now, the client retries within its deadline.
 *
 * The client speaks first with nothing but a random nonce, so a squatter that
 * holds the name learns nothing that depends on the key, and a peer that only
 * reads learns nothing at all. The client sends its proof (and its data) only
 * after checking the server's. Role labels differ, so one side's proof can
 * never be replayed or reflected as the other's; both nonces are fresh.
 * Messages have a fixed size: a peer can make us buffer at most one of them.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type net from 'node:net';
import type { CancelSignal } from '../cancel.js';
import { abortedError } from '../deadline.js';
import { LocalSocketError } from '../errors.js';

export const NONCE_BYTES = 32;
export const MAC_BYTES = 32;
export const HEADER_BYTES = 8;
export const CLIENT_HELLO_HEADER = Buffer.from('LSC2\0\0\0\0', 'latin1');
export const SERVER_PROOF_HEADER = Buffer.from('LSS2\0\0\0\0', 'latin1');
export const CLIENT_PROOF_HEADER = Buffer.from('LSP2\0\0\0\0', 'latin1');
export const BUSY_MESSAGE = Buffer.from('LSB2\0\0\0\0', 'latin1');
const SERVER_LABEL = Buffer.from('localsocket v2 server', 'latin1');
const CLIENT_LABEL = Buffer.from('localsocket v2 client', 'latin1');

export const CLIENT_HELLO_SIZE = HEADER_BYTES + NONCE_BYTES;
export const SERVER_PROOF_SIZE = HEADER_BYTES + NONCE_BYTES + MAC_BYTES;
export const CLIENT_PROOF_SIZE = HEADER_BYTES + MAC_BYTES;

// Nonces are public and only need to be unpredictable and fresh: they are cut
// from a pool filled 64 at a time, which takes one CSPRNG call off the connect
// path of nearly every handshake.
const NONCE_POOL = NONCE_BYTES * 64;
let noncePool = Buffer.alloc(0);
let noncePoolAt = NONCE_POOL;

export function freshNonce(): Buffer {
  if (noncePoolAt + NONCE_BYTES > noncePool.length) {
    noncePool = randomBytes(NONCE_POOL);
    noncePoolAt = 0;
  }
  // A copy: the pool is never shared, and never reused once cut.
  const nonce = Buffer.from(noncePool.subarray(noncePoolAt, noncePoolAt + NONCE_BYTES));
  noncePoolAt += NONCE_BYTES;
  return nonce;
}

function mac(key: Uint8Array, label: Buffer, clientNonce: Uint8Array, serverNonce: Uint8Array): Buffer {
  return createHmac('sha256', key).update(label).update(clientNonce).update(serverNonce).digest();
}

/** HELLO: the client's first message. */
export function clientHello(clientNonce: Uint8Array): Buffer {
  return Buffer.concat([CLIENT_HELLO_HEADER, clientNonce]);
}

/** SERVER PROOF: the server's answer to a HELLO. */
export function serverProof(key: Uint8Array, clientNonce: Uint8Array, serverNonce: Uint8Array): Buffer {
  return Buffer.concat([SERVER_PROOF_HEADER, serverNonce, mac(key, SERVER_LABEL, clientNonce, serverNonce)]);
}

/** CLIENT PROOF: sent by the client once it has checked the server's proof. */
export function clientProof(key: Uint8Array, clientNonce: Uint8Array, serverNonce: Uint8Array): Buffer {
  return Buffer.concat([CLIENT_PROOF_HEADER, mac(key, CLIENT_LABEL, clientNonce, serverNonce)]);
}

/** Server side: the client nonce from a HELLO, or null if `message` is not one. */
export function parseClientHello(message: Buffer): Buffer | null {
  if (message.length !== CLIENT_HELLO_SIZE || !message.subarray(0, HEADER_BYTES).equals(CLIENT_HELLO_HEADER)) return null;
  return Buffer.from(message.subarray(HEADER_BYTES));
}

/** Server side: whether `message` is a valid CLIENT PROOF for these nonces (constant-time). */
export function verifyClientProof(message: Buffer, key: Uint8Array, clientNonce: Uint8Array, serverNonce: Uint8Array): boolean {
  if (message.length !== CLIENT_PROOF_SIZE) return false;
  const expected = clientProof(key, clientNonce, serverNonce);
  // The header is compared in constant time with the MAC: one comparison of the whole message.
  return timingSafeEqual(message, expected);
}

/** Who is connecting, for diagnostics that say which key was used (never the key itself). */
export interface KeyOrigin {
  keyFile: string | null;
  keyCreated: boolean;
}

function noop(): void {}

/**
 * Said only when the evidence points to a raw server: it sent bytes that are not a handshake
 * answer. A server that stays silent may as well be overloaded or stuck, so a timeout says what
 * happened and nothing more (SILENT_SERVER).
 */
export const RAW_SERVER_HINT = 'no localsocket handshake from the server (a raw-mode server? try raw mode)';
export const SILENT_SERVER = 'the server accepted the connection but did not answer the handshake (busy, stuck, or not a localsocket server)';
/** The server closed the connection without reading our hello: no room for us, whether or not its BUSY could be read. */
export const CLOSED_BEFORE_HELLO = 'connect: the server is busy (it closed the connection without reading our hello)';
/** Write errors that mean the peer closed its end before reading what we sent. */
const PEER_GONE = new Set(['EPIPE', 'ECONNRESET', 'ERR_STREAM_DESTROYED', 'EOF']);

function keyMismatch(origin: KeyOrigin): LocalSocketError {
  let text = 'authentication failed: key mismatch, the server does not hold our key';
  if (origin.keyFile) {
    text += ` (we used ${origin.keyFile}`;
    text += origin.keyCreated ? ', which was just created: the server uses another key file)' : ')';
  }
  return new LocalSocketError('AUTH_FAILED', text);
}

/**
 * Client side: HELLO, check the server's proof, send ours followed at once by
 * the application's first writes. Resolves after one round trip (the server
 * sends nothing after its proof until it has checked ours, so nothing is left over). Rejects with AUTH_FAILED (key
 * mismatch), RESOURCE_EXHAUSTED (server busy: retry), CONNECTION_REFUSED
 * (closed before answering: retry), PROTOCOL_ERROR or TIMEOUT (not a
 * localsocket server), ABORTED.
 */
export function clientHandshake(socket: net.Socket, key: Uint8Array, deadline: number, signal: CancelSignal, origin: KeyOrigin): Promise<void> {
  const clientNonce = freshNonce();
  const hello = clientHello(clientNonce);
  return new Promise((resolve, reject) => {
    let received: Buffer | null = null;
    const timer = setTimeout(() => {
      finish(new LocalSocketError('TIMEOUT', `connect: timed out: ${received === null ? SILENT_SERVER : 'the handshake did not complete'}`));
    }, Math.max(0, deadline - Date.now()));
    const onData = (chunk: Buffer): void => {
      received = received === null ? chunk : Buffer.concat([received, chunk]);
      if (received.length < HEADER_BYTES) return;
      const header = received.subarray(0, HEADER_BYTES);
      if (header.equals(BUSY_MESSAGE)) {
        finish(new LocalSocketError('RESOURCE_EXHAUSTED', 'connect: the server is busy'));
        return;
      }
      if (!header.equals(SERVER_PROOF_HEADER)) {
        const what = header.equals(CLIENT_HELLO_HEADER) ? 'the server echoed our hello: ' : '';
        finish(new LocalSocketError('PROTOCOL_ERROR', `connect: ${what}${RAW_SERVER_HINT}`));
        return;
      }
      if (received.length < SERVER_PROOF_SIZE) return;
      if (received.length > SERVER_PROOF_SIZE) {
        // A server may answer and then, out of room, drop us with BUSY before our proof arrives: retry.
        const rest = received.subarray(SERVER_PROOF_SIZE);
        if (rest.length <= HEADER_BYTES && BUSY_MESSAGE.subarray(0, rest.length).equals(rest)) {
          if (rest.length === HEADER_BYTES) finish(new LocalSocketError('RESOURCE_EXHAUSTED', 'connect: the server is busy'));
          return;
        }
        finish(new LocalSocketError('PROTOCOL_ERROR', 'connect: the server sent data before the handshake ended'));
        return;
      }
      const serverNonce = received.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);
      const expected = serverProof(key, clientNonce, serverNonce);
      if (!timingSafeEqual(received, expected)) {
        finish(keyMismatch(origin));
        return;
      }
      // The proof can meet a server that just dropped us (EPIPE, reported on the next tick): keep that
      // error from being unhandled until the socket's owner listens; the owner sees the close.
      socket.on('error', noop);
      socket.write(clientProof(key, clientNonce, serverNonce));
      finish(null);
    };
    const onClose = (): void => {
      if (received === null) {
        // It read our hello (no write failed) and closed without a word: a raw server that took the
        // hello for data, or one shutting down. Retried; CONNECTION_REFUSED at the deadline.
        finish(new LocalSocketError('CONNECTION_REFUSED', 'connect: the server closed the connection before the handshake'));
        return;
      }
      // Cut short in the middle of a handshake answer is not evidence of a raw server; other bytes are.
      const partial = received.subarray(0, HEADER_BYTES);
      const handshakeLike = SERVER_PROOF_HEADER.subarray(0, partial.length).equals(partial) || BUSY_MESSAGE.subarray(0, partial.length).equals(partial);
      finish(new LocalSocketError('PROTOCOL_ERROR', handshakeLike ? 'connect: the server closed the connection in the middle of its handshake answer' : `connect: ${RAW_SERVER_HINT}`));
    };
    const onError = (err: NodeJS.ErrnoException): void => {
      // Our hello met a closed connection before any answer: the server closed without reading it.
      // A server out of room may answer BUSY and close at once; the BUSY is then lost with the
      // connection (Node stops reading after a failed write), so this is taken as the BUSY it was.
      if (received === null && PEER_GONE.has(err.code ?? '')) {
        finish(new LocalSocketError('RESOURCE_EXHAUSTED', CLOSED_BEFORE_HELLO));
        return;
      }
      onClose();
    };
    const onAbort = (): void => finish(abortedError(signal));
    const finish = (err: LocalSocketError | null): void => {
      clearTimeout(timer);
      socket.pause();
      socket.off('data', onData);
      socket.off('end', onClose);
      socket.off('close', onClose);
      socket.off('error', onError);
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    if (signal.aborted) {
      clearTimeout(timer);
      reject(abortedError(signal));
      return;
    }
    socket.on('data', onData);
    socket.once('end', onClose);
    socket.once('close', onClose);
    socket.once('error', onError);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.write(hello);
    socket.resume();
  });
}
