/**
 * Scenario: what diagnostics_channel costs on the request and connect paths.
 * One process, a message server and its clients; the same loop is timed with
 * nobody subscribed and with a no-op subscriber on every channel, alternating.
 * In this scenario's rows the "raw net" column holds the no-subscriber
 * figure and the "localsocket" column the subscribed one, so the ratio is what
 * a subscriber costs. The no-subscriber path itself is the one the `messages`
 * and `connect` scenarios time against raw net (one `hasSubscribers` read per
 * publish point).
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { connect, connectMessages, DiagnosticChannels, listenMessages } from '../src/index.js';
import { alternate, keyFromHex, log, median, nowNs, ratioRow, uniqueName, type BenchConfig, type Commands, type ScenarioResult } from './common.js';

const REQUESTS = 20_000;
const CONNECTS = 1_000;

function noop(): void {}
const tracingHandlers = { start: noop, end: noop, asyncStart: noop, asyncEnd: noop, error: noop };

function subscribeAll(): () => void {
  const plain = Object.entries(DiagnosticChannels).filter(([k]) => k !== 'request').map(([, name]) => name);
  for (const name of plain) diagnosticsChannel.subscribe(name, noop);
  const tracing = diagnosticsChannel.tracingChannel(DiagnosticChannels.request);
  tracing.subscribe(tracingHandlers);
  return () => {
    for (const name of plain) diagnosticsChannel.unsubscribe(name, noop);
    tracing.unsubscribe(tracingHandlers);
  };
}

export const commands: Commands = {};

export async function run(config: BenchConfig): Promise<ScenarioResult> {
  const key = keyFromHex(config.keyHex);
  const requests = config.quick ? REQUESTS / 4 : REQUESTS;
  const connects = config.quick ? CONNECTS / 4 : CONNECTS;
  const server = await listenMessages(uniqueName('diag'), { key, maxPendingConnections: 256 });
  server.handle('echo', (params) => params);
  const name = server.server.serverName!;
  const client = await connectMessages(name, { key });
  const perRequest: Record<'raw' | 'ours', number[]> = { raw: [], ours: [] };
  const perConnect: Record<'raw' | 'ours', number[]> = { raw: [], ours: [] };
  try {
    for (let i = 0; i < 1000; i++) await client.request('echo', i); // warm-up
    await alternate(config.reps, async (impl) => {
      const unsubscribe = impl === 'ours' ? subscribeAll() : noop;
      try {
        let t0 = nowNs();
        for (let i = 0; i < requests; i++) await client.request('echo', i);
        perRequest[impl].push((nowNs() - t0) / requests / 1000);
        t0 = nowNs();
        for (let i = 0; i < connects; i++) (await connect(name, { key })).abort();
        perConnect[impl].push((nowNs() - t0) / connects / 1000);
      } finally {
        unsubscribe();
      }
    });
    log(`diagnostics: request µs no subscriber ${median(perRequest.raw).toFixed(1)}, subscribed ${median(perRequest.ours).toFixed(1)}; connect µs ${median(perConnect.raw).toFixed(0)} vs ${median(perConnect.ours).toFixed(0)}`);
    return {
      name: 'diagnostics',
      rows: [
        ratioRow('diagnostics', 'request round trip: no subscriber (raw column) vs every channel subscribed', 'µs', perRequest.raw, perRequest.ours),
        ratioRow('diagnostics', 'authenticated connect: no subscriber (raw column) vs every channel subscribed', 'µs', perConnect.raw, perConnect.ours),
      ],
      notes: ['diagnostics rows: the raw column is localsocket with nobody subscribed, the localsocket column the same loop with a no-op subscriber on every channel (one process, sequential requests and connects)'],
      details: { requestsPerRep: requests, connectsPerRep: connects, reps: config.reps },
    };
  } finally {
    await client.close();
    await server.close();
  }
}
