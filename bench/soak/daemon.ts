/**
 * The soak run's message daemon (its own process; SIGKILLed and restarted by
 * the run). Requests `sum` get their answer with the token they came with;
 * notifications `tick` are answered with `tock` to the sender; binary
 * messages are echoed to the sender; every 100 ms a `news` notification with
 * an increasing number is broadcast to every peer.
 */
import { listenMessages } from '../../src/messages/message-server.js';
import { send, soakKey, soakName, takeSample, type ParentMessage } from './common.js';

const SAMPLE_MS = Number(process.env.LOCALSOCKET_SOAK_SAMPLE_MS ?? 2000);
/** Per requester, the highest sequence number seen: a request seen again is a duplicate delivery. */
const lastSeq = new Map<string, { seq: number; at: number }>();
const incarnation = `${process.pid}`;

const server = await listenMessages(soakName(), { key: soakKey(), maxPendingConnections: 64 });
server.on('error', () => {});

server.handle('sum', (params) => {
  const { c, s, a, b } = params as { c: string; s: number; a: number; b: number };
  const seen = lastSeq.get(c);
  const dup = seen !== undefined && s <= seen.seq;
  if (!dup) lastSeq.set(c, { seq: s, at: Date.now() });
  return { c, s, sum: a + b, dup, incarnation };
});

server.onNotification('tick', (params, peer) => {
  peer.notify('tock', params).catch(() => {});
});

server.on('peerJoined', (peer) => {
  peer.on('binary', (data) => {
    // Echoed from its own copy: the event's buffer may be a view of a read chunk.
    peer.sendBinary(Buffer.from(data)).catch(() => {});
  });
});

let news = 0;
const newsTimer = setInterval(() => {
  news++;
  server.broadcast('news', { incarnation, seq: news });
}, 100);

const sampleTimer = setInterval(() => {
  send({ type: 'sample', sample: takeSample() });
  // Requesters that have not been heard from for a minute are gone (replaced processes).
  const old = Date.now() - 60_000;
  for (const [c, v] of lastSeq) if (v.at < old) lastSeq.delete(c);
}, SAMPLE_MS);

async function stop(): Promise<void> {
  clearInterval(newsTimer);
  clearInterval(sampleTimer);
  send({ type: 'final', sample: takeSample() });
  await server.close();
  process.disconnect?.();
}

process.on('message', (m: ParentMessage) => {
  if (m.type === 'stop') void stop();
});
// The run is gone: nothing to serve for.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
