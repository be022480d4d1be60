/**
 * Measurement (not a test): the server's memory while a client pipelines
 * requests and never reads a reply.
 *
 *   node dist/bench/message-flood.js [--params BYTES] [--seconds S] [--mode requests|pending]
 *
 * A MessageServer with default limits runs in this process, serving `echo`
 * (returns its params) and `hold` (never answers until the client goes). A
 * client in a child process connects with the same in-memory key and, for S
 * seconds, writes requests in ~64 KiB batches (awaiting each write, so its
 * own memory stays flat) and never reads. `requests` sends `echo` with
 * BYTES-byte params (replies pile up on the server); `pending` sends `hold`
 * with distinct ids (handlers pile up). When the server drops it, the client
 * reconnects and goes on. This process samples its RSS every 250 ms and
 * prints one JSON line: RSS before, the highest seen, and after the client
 * has left (after a GC when run with --expose-gc), with the drops and
 * requests seen.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { connect, encodeFrameHeader, FrameType, listenMessages, type LocalSocket } from '../src/index.js';

const args = process.argv.slice(2);
function option(name: string, fallback: string): string {
  const at = args.indexOf(`--${name}`);
  return at === -1 ? fallback : args[at + 1]!;
}

function frame(value: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(value));
  return Buffer.concat([encodeFrameHeader(FrameType.JSON, payload.length), payload]);
}

async function client(name: string, key: Buffer, mode: string, paramsBytes: number, until: number): Promise<void> {
  const params = 'x'.repeat(paramsBytes);
  let id = 0;
  while (Date.now() < until) {
    let socket: LocalSocket;
    try {
      socket = await connect(name, { key, maxReadBuffer: 16 * 1024, timeout: 5000 });
    } catch {
      continue;
    }
    while (Date.now() < until && socket.state === 'connected') {
      const batch: Buffer[] = [];
      let bytes = 0;
      while (bytes < 64 * 1024) {
        id = id >= 0x7fff_ffff ? 1 : id + 1;
        const f = frame(mode === 'pending' ? { jsonrpc: '2.0', id, method: 'hold' } : { jsonrpc: '2.0', id, method: 'echo', params });
        batch.push(f);
        bytes += f.length;
      }
      try {
        await socket.write(Buffer.concat(batch));
      } catch {
        break;
      }
    }
    socket.abort();
  }
}

async function main(): Promise<void> {
  if (args[0] === '--client') {
    const [, name, keyHex, mode, paramsBytes, until] = args;
    await client(name!, Buffer.from(keyHex!, 'hex'), mode!, Number(paramsBytes), Number(until));
    process.exit(0);
  }
  const paramsBytes = Number(option('params', '1000'));
  const seconds = Number(option('seconds', '20'));
  const mode = option('mode', 'requests');
  const key = randomBytes(32);
  const server = await listenMessages(`flood-${process.pid}`, { key });
  server.handle('echo', (params) => params);
  server.handle('hold', (_params, context) => new Promise((resolve) => context.signal.addEventListener('abort', () => resolve(null))));
  let drops = 0;
  const reasons: Record<string, number> = {};
  let requests = 0;
  server.on('peerJoined', (peer) => peer.on('request', () => requests++));
  server.on('peerLeft', (_peer, reason) => {
    drops++;
    const code = reason?.code ?? 'null';
    reasons[code] = (reasons[code] ?? 0) + 1;
  });
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 250);
  const until = Date.now() + seconds * 1000;
  const script = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, [script, '--client', server.fullServerName!, key.toString('hex'), mode, String(paramsBytes), String(until)], { stdio: 'inherit' });
  await new Promise((resolve) => child.once('exit', resolve));
  // Let the last connection's end be seen, then measure what stays.
  await new Promise((r) => setTimeout(r, 1000));
  clearInterval(sampler);
  gc?.();
  await new Promise((r) => setTimeout(r, 200));
  const after = process.memoryUsage().rss;
  const MiB = 1024 * 1024;
  console.log(JSON.stringify({
    mode, paramsBytes, seconds, requests, peerLeft: drops, reasons,
    rssBeforeMiB: +(before / MiB).toFixed(1), rssPeakMiB: +(peak / MiB).toFixed(1), rssAfterMiB: +(after / MiB).toFixed(1),
    peakGrowthMiB: +((peak - before) / MiB).toFixed(1), afterGrowthMiB: +((after - before) / MiB).toFixed(1),
  }));
  await server.close();
}

await main();
