/**
 * The mutual authentication handshake (wire format in docs/SECURITY.md).
 *
 *   server -> client  HELLO  "LSH1" 0 0 0 0 | server nonce (32)            40 bytes
 *   client -> server  PROOF  "LSC1" 0 0 0 0 | client nonce (32) | mac (32) 72 bytes
 *   server -> client  PROOF  "LSS1" 0 0 0 0 | mac (32)                     40 bytes
 *
 * mac = HMAC-SHA256(key, label | server nonce | client nonce), with a
 * different label per role so an answer can be neither replayed (fresh
 * nonces on both sides) nor reflected. Messages have a fixed size: a peer can
 * make us buffer at most one of them. The server sends nothing but HELLO until
 * the client has proven the key; the client sends no application byte before
 * the server has proven it too. On failure the detecting side closes without
 * a word.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type net from 'node:net';
import { abortedError } from '../deadline.js';
import { LocalSocketError } from '../errors.js';

const NONCE = 32;
const MAC = 32;
const HEADER = 8;
const SERVER_HELLO = Buffer.from('LSH1\0\0\0\0', 'latin1');
const CLIENT_PROOF = Buffer.from('LSC1\0\0\0\0', 'latin1');
const SERVER_PROOF = Buffer.from('LSS1\0\0\0\0', 'latin1');
const CLIENT_LABEL = Buffer.from('localsocket v1 client proof', 'latin1');
const SERVER_LABEL = Buffer.from('localsocket v1 server proof', 'latin1');

export const HELLO_SIZE = HEADER + NONCE;
export const CLIENT_PROOF_SIZE = HEADER + NONCE + MAC;
export const SERVER_PROOF_SIZE = HEADER + MAC;

// Nonces are public and only need to be unpredictable and fresh: they are cut
// from a pool filled 64 at a time (as crypto.randomUUID caches its entropy),
// which takes one CSPRNG call off the connect path of nearly every handshake.
const NONCE_POOL = NONCE * 64;
let noncePool = Buffer.alloc(0);
let noncePoolAt = NONCE_POOL;

function freshNonce(): Buffer {
  if (noncePoolAt + NONCE > noncePool.length) {
    noncePool = randomBytes(NONCE_POOL);
    noncePoolAt = 0;
  }
  // A copy: the pool is never shared, and never reused once cut.
  const nonce = Buffer.from(noncePool.subarray(noncePoolAt, noncePoolAt + NONCE));
  noncePoolAt += NONCE;
  return nonce;
}

export function proof(key: Uint8Array, label: Buffer, serverNonce: Buffer, clientNonce: Buffer): Buffer {
  return createHmac('sha256', key).update(label).update(serverNonce).update(clientNonce).digest();
}

function authFailed(why: string): LocalSocketError {
  return new LocalSocketError('AUTH_FAILED', `authentication failed: ${why}`);
}

interface Received {
  message: Buffer;
  leftover: Buffer;
}

/**
 * Reads exactly `size` bytes. Holds at most `size` plus one kernel read;
 * settles on data, end, error, deadline or abort, and removes its listeners.
 */
function receive(socket: net.Socket, size: number, deadline: number, signal: AbortSignal, onEnd: () => LocalSocketError): Promise<Received> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    const timer = setTimeout(() => finish(new LocalSocketError('TIMEOUT', 'handshake: timed out')), Math.max(0, deadline - Date.now()));
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      have += chunk.length;
      if (have >= size) finish(null);
    };
    const onClose = (): void => finish(onEnd());
    const onError = (): void => finish(onEnd());
    const onAbort = (): void => finish(abortedError(signal));
    const finish = (err: LocalSocketError | null): void => {
      clearTimeout(timer);
      socket.pause();
      socket.off('data', onData);
      socket.off('end', onClose);
      socket.off('close', onClose);
      socket.off('error', onError);
      signal.removeEventListener('abort', onAbort);
      if (err) return reject(err);
      const all = Buffer.concat(chunks, have);
      resolve({ message: all.subarray(0, size), leftover: all.subarray(size) });
    };
    if (signal.aborted) return onAbort();
    socket.on('data', onData);
    socket.once('end', onClose);
    socket.once('close', onClose);
    socket.once('error', onError);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.resume();
  });
}

function header(message: Buffer, expected: Buffer): boolean {
  return message.subarray(0, HEADER).equals(expected);
}

/** Client side. Resolves with bytes the server sent after its proof. */
export async function clientHandshake(socket: net.Socket, key: Uint8Array, timeoutMs: number, signal: AbortSignal): Promise<Buffer> {
  const deadline = Date.now() + timeoutMs;
  const hello = await receive(socket, HELLO_SIZE, deadline, signal, () =>
    new LocalSocketError('CONNECTION_REFUSED', 'connect: the server closed the connection before authenticating'),
  );
  if (!header(hello.message, SERVER_HELLO)) throw authFailed('the server does not speak the localsocket handshake');
  if (hello.leftover.length > 0) throw authFailed('the server sent data before the handshake ended');
  const serverNonce = Buffer.from(hello.message.subarray(HEADER));
  const clientNonce = freshNonce();
  socket.write(Buffer.concat([CLIENT_PROOF, clientNonce, proof(key, CLIENT_LABEL, serverNonce, clientNonce)]));
  let reply: Received;
  try {
    reply = await receive(socket, SERVER_PROOF_SIZE, deadline, signal, () => authFailed('the server refused our key'));
  } catch (err) {
    // A server that takes our proof and then stalls has not proven anything: treat it as an impostor.
    if (err instanceof LocalSocketError && err.code === 'TIMEOUT') {
      throw new LocalSocketError('AUTH_FAILED', 'authentication failed: the server did not prove it holds the key in time', { cause: err });
    }
    throw err;
  }
  const expected = proof(key, SERVER_LABEL, serverNonce, clientNonce);
  if (!header(reply.message, SERVER_PROOF) || !timingSafeEqual(reply.message.subarray(HEADER), expected)) {
    throw authFailed('the server did not prove it holds the key');
  }
  return reply.leftover;
}

/** Server side. Resolves with bytes the client sent after its proof; rejects to have the peer dropped. */
export async function serverHandshake(socket: net.Socket, key: Uint8Array, timeoutMs: number, signal: AbortSignal): Promise<Buffer> {
  const deadline = Date.now() + timeoutMs;
  const serverNonce = freshNonce();
  socket.write(Buffer.concat([SERVER_HELLO, serverNonce]));
  const peerGone = (): LocalSocketError => authFailed('the client left during the handshake');
  const { message, leftover } = await receive(socket, CLIENT_PROOF_SIZE, deadline, signal, peerGone);
  if (!header(message, CLIENT_PROOF)) throw authFailed('the client does not speak the localsocket handshake');
  const clientNonce = Buffer.from(message.subarray(HEADER, HEADER + NONCE));
  const expected = proof(key, CLIENT_LABEL, serverNonce, clientNonce);
  if (!timingSafeEqual(message.subarray(HEADER + NONCE), expected)) throw authFailed('the client did not prove it holds the key');
  socket.write(Buffer.concat([SERVER_PROOF, proof(key, SERVER_LABEL, serverNonce, clientNonce)]));
  return leftover;
}
