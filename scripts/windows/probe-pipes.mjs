// Probe how Node's named pipes (and a few OS facts the library depends on)
// behave on the platform it runs on. Meant for Windows node under Wine:
//   scripts/windows/node.sh scripts/windows/probe-pipes.mjs [--slow] [--json]
// It also runs on Linux/macOS (`node scripts/windows/probe-pipes.mjs`), where
// the same probes use Unix domain sockets in os.tmpdir(), for comparison.
//   --slow  also wait out the 30 s that libuv gives a busy pipe (ETIMEDOUT?)
//   --json  print one JSON document instead of one line per probe
// Each probe records the raw error fields (code, errno, syscall) it got.
import net from 'node:net';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

const isWin = process.platform === 'win32';
const SLOW = process.argv.includes('--slow');
const JSON_OUT = process.argv.includes('--json');
const tag = `lsprobe-${process.pid}`;
const results = [];

function pipePath(name) {
  return isWin ? `\\\\.\\pipe\\${tag}-${name}` : path.join(os.tmpdir(), `${tag}-${name}.sock`);
}

function errInfo(e) {
  if (!e) return null;
  const o = { code: e.code, errno: e.errno, syscall: e.syscall };
  if (e.address !== undefined) o.address = e.address;
  o.message = e.message;
  return o;
}

function record(name, value) {
  results.push({ name, value });
  if (!JSON_OUT) console.log(`${name}: ${JSON.stringify(value)}`);
}

function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`probe timeout: ${what} after ${ms} ms`), { code: 'PROBE_TIMEOUT' })), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

function listen(p, opts = {}) {
  return new Promise((resolve, reject) => {
    const srv = net.createServer(opts.onConn ?? ((s) => s.on('error', () => {})));
    srv.once('error', reject);
    srv.listen({ path: p, ...opts.listen }, () => {
      srv.removeListener('error', reject);
      resolve(srv);
    });
  });
}

function connect(p) {
  return new Promise((resolve, reject) => {
    const c = net.connect(p);
    c.once('error', reject);
    c.once('connect', () => {
      c.removeListener('error', reject);
      resolve(c);
    });
  });
}

function close(srv) {
  return new Promise((r) => (srv && srv.listening ? srv.close(() => r()) : r()));
}

// Start a child node that runs `code` (a function body with `net`, `path`,
// `out`); resolves with the child once it prints "ready".
function child(code, env = {}) {
  const src = `const net = require('net'); const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');\n${code}`;
  const cp = spawn(process.execPath, ['-e', src], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  cp.lines = [];
  let buf = '';
  cp.stdout.setEncoding('utf8');
  cp.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      cp.lines.push(buf.slice(0, i).trim());
      cp.emit('line', buf.slice(0, i).trim());
      buf = buf.slice(i + 1);
    }
  });
  cp.ready = new Promise((resolve, reject) => {
    cp.on('line', (l) => l === 'ready' && resolve(cp));
    cp.once('exit', (c, s) => reject(new Error(`child exited ${c} ${s} before ready: ${cp.lines.join(' | ')}`)));
  });
  cp.ready.catch(() => {}); // only probes that await it care
  return cp;
}

async function probe(name, fn, ms = 15000) {
  try {
    record(name, await withTimeout(fn(), ms, name));
  } catch (e) {
    record(name, { unexpected: errInfo(e) });
  }
}

// ---------------------------------------------------------------------------

record('platform', {
  platform: process.platform,
  node: process.version,
  execPath: process.execPath,
  cwd: process.cwd(),
  osRelease: os.release(),
  osVersion: typeof os.version === 'function' ? os.version() : undefined,
  pipeExample: pipePath('x'),
});

await probe('listen twice, same process', async () => {
  const p = pipePath('dup');
  const hits = { first: 0, second: 0 };
  const reply = (who) => (sock) => {
    hits[who]++;
    sock.on('error', () => {});
    sock.end(who);
  };
  const a = await listen(p, { onConn: reply('first') });
  let second;
  try {
    const b = await listen(p, { onConn: reply('second') });
    // Both listen: which server do clients reach?
    for (let i = 0; i < 8; i++) {
      const c = await connect(p);
      c.resume();
      await once(c, 'end');
      c.destroy();
    }
    second = { listened: true, acceptedOf8Clients: { ...hits } };
    await close(b);
  } catch (e) {
    second = errInfo(e);
  }
  await close(a);
  return { first: 'ok', second };
});

await probe('listen twice, other process', async () => {
  const p = pipePath('dup2');
  const a = await listen(p);
  const cp = child(`
    const s = net.createServer();
    s.on('error', (e) => { out({ code: e.code, errno: e.errno, syscall: e.syscall, message: e.message }); process.exit(0); });
    s.listen(${JSON.stringify(p)}, () => { out({ listened: true }); s.close(); });
  `);
  const [code] = await once(cp, 'exit');
  await close(a);
  return { childResult: JSON.parse(cp.lines[0] ?? 'null'), childExit: code };
});

await probe('listen after the owner process was killed (stale name?)', async () => {
  const p = pipePath('stale');
  const cp = child(`const s = net.createServer(); s.listen(${JSON.stringify(p)}, () => console.log('ready'));`);
  await cp.ready;
  cp.kill('SIGKILL');
  await once(cp, 'exit');
  await sleep(100);
  try {
    const s = await listen(p);
    await close(s);
    return { relisten: 'ok' };
  } catch (e) {
    return { relisten: errInfo(e), fileStillThere: fs.existsSync(p) };
  }
});

await probe('connect to a missing pipe', async () => {
  try {
    const c = await connect(pipePath('missing'));
    c.destroy();
    return { connected: true };
  } catch (e) {
    return errInfo(e);
  }
});

await probe('pipe names are case-insensitive', async () => {
  const p = pipePath('CaseTest');
  const s = await listen(p);
  let r;
  try {
    const c = await connect(p.replace('CaseTest', 'casetest'));
    c.destroy();
    r = { lowerCaseConnect: 'ok' };
  } catch (e) {
    r = { lowerCaseConnect: errInfo(e) };
  }
  await close(s);
  return r;
});

await probe('server.address() of a pipe server', async () => {
  const p = pipePath('addr');
  const s = await listen(p);
  const a = s.address();
  await close(s);
  return { address: a };
});

await probe('list pipes: fs.readdirSync("\\\\.\\pipe\\")', async () => {
  if (!isWin) return { skipped: 'not win32' };
  const p = pipePath('listed');
  const s = await listen(p);
  let r;
  try {
    const names = fs.readdirSync('\\\\.\\pipe\\');
    r = { count: names.length, ownPipeListed: names.includes(`${tag}-listed`), sample: names.slice(0, 5) };
  } catch (e) {
    r = errInfo(e);
  }
  await close(s);
  return r;
});

await probe('fs.existsSync / fs.statSync on a live pipe name', async () => {
  const p = pipePath('exists');
  const s = await listen(p);
  let st;
  try {
    const x = fs.statSync(p);
    st = { isFIFO: x.isFIFO(), isSocket: x.isSocket(), isFile: x.isFile(), mode: x.mode.toString(8) };
  } catch (e) {
    st = errInfo(e);
  }
  const r = { exists: fs.existsSync(p), stat: st };
  await close(s);
  return r;
});

await probe('pipe busy: server loop blocked, NODE_PENDING_PIPE_INSTANCES=1', async () => {
  // The child creates one pipe instance, then blocks its event loop, so the
  // instance taken by the first client is not replaced. The second client
  // then finds the pipe busy (ERROR_PIPE_BUSY on Windows).
  const blockMs = SLOW ? 36000 : 3000;
  const p = pipePath('busy');
  const cp = child(
    `
    const s = net.createServer((c) => { c.on('error', () => {}); c.end('hi'); });
    s.listen(${JSON.stringify(p)}, () => {
      console.log('ready');
      setTimeout(() => {
        const until = Date.now() + ${blockMs};
        console.log('blocking');
        while (Date.now() < until) {}
        console.log('unblocked');
        setTimeout(() => process.exit(0), 1500);
      }, 200);
    });
  `,
    { NODE_PENDING_PIPE_INSTANCES: '1' },
  );
  await cp.ready;
  await new Promise((r) => cp.on('line', (l) => l === 'blocking' && r()));
  const t0 = Date.now();
  const first = await connect(p).then(
    (c) => (c.destroy(), { ok: true, ms: Date.now() - t0 }),
    (e) => errInfo(e),
  );
  const t1 = Date.now();
  const second = await connect(p).then(
    (c) => (c.destroy(), { ok: true, ms: Date.now() - t1 }),
    (e) => ({ ...errInfo(e), ms: Date.now() - t1 }),
  );
  await once(cp, 'exit');
  return { blockMs, first, second };
}, SLOW ? 60000 : 20000);

await probe('pipe busy: default pending instances (4), 6 clients at once, loop blocked', async () => {
  const p = pipePath('busy4');
  const cp = child(`
    const s = net.createServer((c) => { c.on('error', () => {}); });
    s.listen(${JSON.stringify(p)}, () => {
      console.log('ready');
      setTimeout(() => {
        console.log('blocking');
        const until = Date.now() + 2000;
        while (Date.now() < until) {}
        setTimeout(() => process.exit(0), 1500);
      }, 200);
    });
  `);
  await cp.ready;
  await new Promise((r) => cp.on('line', (l) => l === 'blocking' && r()));
  const t0 = Date.now();
  const rs = await Promise.all(
    Array.from({ length: 6 }, () =>
      connect(p).then(
        (c) => (c.destroy(), `ok@${Date.now() - t0}ms`),
        (e) => `${e.code}@${Date.now() - t0}ms`,
      ),
    ),
  );
  await once(cp, 'exit');
  return { clients: rs };
});

await probe('write to a vanished peer (server destroyed the socket)', async () => {
  const p = pipePath('epipe');
  const events = [];
  const s = await listen(p, { onConn: (sock) => { sock.on('error', () => {}); sock.destroy(); } });
  const c = await connect(p);
  c.on('end', () => events.push('end'));
  c.on('close', (hadErr) => events.push(`close(hadError=${hadErr})`));
  const errs = [];
  c.on('error', (e) => errs.push(errInfo(e)));
  await sleep(300);
  const writeCb = await new Promise((resolve) => {
    try {
      c.write('x'.repeat(1024), (e) => resolve(e ? errInfo(e) : 'write callback ok'));
    } catch (e) {
      resolve({ threw: errInfo(e) });
    }
    setTimeout(() => resolve('no write callback within 2 s'), 2000);
  });
  await sleep(200);
  c.destroy();
  await close(s);
  return { eventsBeforeWrite: events.slice(), writeCallback: writeCb, errorEvents: errs };
});

await probe('write to a vanished peer (allowHalfOpen client, server process killed)', async () => {
  const p = pipePath('epipe2');
  const cp = child(`const s = net.createServer((c) => { c.on('error', () => {}); console.log('accepted'); }); s.listen(${JSON.stringify(p)}, () => console.log('ready'));`);
  await cp.ready;
  const c = await new Promise((resolve, reject) => {
    const k = net.connect({ path: p, allowHalfOpen: true });
    k.once('error', reject);
    k.once('connect', () => resolve(k));
  });
  const events = [];
  const errs = [];
  c.on('end', () => events.push('end'));
  c.on('close', (h) => events.push(`close(hadError=${h})`));
  c.on('error', (e) => errs.push(errInfo(e)));
  await new Promise((r) => (cp.lines.includes('accepted') ? r() : cp.on('line', (l) => l === 'accepted' && r())));
  cp.kill('SIGKILL');
  await once(cp, 'exit');
  await sleep(300);
  const writes = [];
  for (let i = 0; i < 3; i++) {
    writes.push(
      await new Promise((resolve) => {
        if (c.destroyed) return resolve('socket destroyed');
        try {
          c.write('y'.repeat(1024), (e) => resolve(e ? errInfo(e) : 'ok'));
        } catch (e) {
          resolve({ threw: errInfo(e) });
        }
        setTimeout(() => resolve('no callback in 2 s'), 2000);
      }),
    );
    await sleep(100);
  }
  c.destroy();
  return { events, writes, errorEvents: errs };
});

await probe('listen with readableAll + writableAll', async () => {
  const p = pipePath('all');
  try {
    const s = await listen(p, { listen: { readableAll: true, writableAll: true } });
    const c = await connect(p);
    c.destroy();
    let mode;
    try {
      mode = fs.statSync(p).mode.toString(8);
    } catch (e) {
      mode = errInfo(e).code;
    }
    await close(s);
    return { listen: 'ok', connectAfter: 'ok', statMode: mode };
  } catch (e) {
    return { listen: errInfo(e) };
  }
});

await probe('listen on a Unix-style path on win32', async () => {
  if (!isWin) return { skipped: 'not win32' };
  const p = path.posix.join('/tmp', `${tag}-unix.sock`);
  try {
    const s = await listen(p);
    const a = s.address();
    await close(s);
    return { listened: true, address: a };
  } catch (e) {
    return errInfo(e);
  }
});

await probe('listen on \\\\?\\pipe\\ prefix', async () => {
  if (!isWin) return { skipped: 'not win32' };
  const p = `\\\\?\\pipe\\${tag}-q`;
  try {
    const s = await listen(p);
    const c = await connect(`\\\\.\\pipe\\${tag}-q`);
    c.destroy();
    await close(s);
    return { listen: 'ok', connectViaDotPrefix: 'ok' };
  } catch (e) {
    return errInfo(e);
  }
});

await probe('very long pipe name (300 chars)', async () => {
  const p = isWin ? `\\\\.\\pipe\\${'a'.repeat(300)}` : path.join(os.tmpdir(), `${tag}-${'a'.repeat(120)}.sock`);
  try {
    const s = await listen(p);
    await close(s);
    // Unix: libuv may cut the path to fit sun_path (107 bytes).
    const cut = isWin ? undefined : fs.readdirSync(os.tmpdir()).find((f) => f.startsWith(`${tag}-aaa`));
    return { listened: true, leftBehind: cut ? path.join(os.tmpdir(), cut).length + ' bytes' : undefined };
  } catch (e) {
    return errInfo(e);
  }
});

await probe('echo round trip + 1 MiB transfer', async () => {
  const p = pipePath('echo');
  const s = await listen(p, { onConn: (sock) => sock.pipe(sock) });
  const c = await connect(p);
  const payload = Buffer.alloc(1 << 20, 7);
  let got = 0;
  const t0 = Date.now();
  await new Promise((resolve) => {
    c.on('data', (d) => {
      got += d.length;
      if (got >= payload.length) resolve();
    });
    c.write(payload);
  });
  const ms = Date.now() - t0;
  c.destroy();
  await close(s);
  return { bytes: got, ms };
});

// --- OS facts ---------------------------------------------------------------
await probe('os / env', async () => {
  let userInfo;
  try {
    userInfo = os.userInfo();
  } catch (e) {
    userInfo = errInfo(e);
  }
  const env = {};
  for (const k of ['HOME', 'USERPROFILE', 'LOCALAPPDATA', 'APPDATA', 'TEMP', 'TMP', 'TMPDIR', 'USERNAME', 'XDG_RUNTIME_DIR', 'PATH']) {
    env[k] = process.env[k];
  }
  if (env.PATH && env.PATH.length > 160) env.PATH = env.PATH.slice(0, 160) + '...';
  return { homedir: os.homedir(), tmpdir: os.tmpdir(), hostname: os.hostname(), userInfo, env };
});

await probe('process uid/gid functions', async () => ({
  getuid: typeof process.getuid,
  geteuid: typeof process.geteuid,
  getgid: typeof process.getgid,
  getgroups: typeof process.getgroups,
  uid: process.getuid ? process.getuid() : undefined,
}));

function chmodProbe(dir) {
  const d = fs.mkdtempSync(path.join(dir, 'lsprobe-'));
  const f = path.join(d, 'f.txt');
  fs.writeFileSync(f, 'x');
  const out = { dir: d, fileModeInitial: fs.statSync(f).mode.toString(8), dirMode: fs.statSync(d).mode.toString(8) };
  for (const m of [0o600, 0o644, 0o400, 0o755]) {
    try {
      fs.chmodSync(f, m);
      out[`after chmod ${m.toString(8)}`] = fs.statSync(f).mode.toString(8);
    } catch (e) {
      out[`after chmod ${m.toString(8)}`] = errInfo(e);
    }
  }
  try {
    fs.chmodSync(f, 0o400);
    fs.writeFileSync(f, 'y');
    out['write after chmod 400'] = 'allowed';
  } catch (e) {
    out['write after chmod 400'] = errInfo(e).code;
  }
  try {
    fs.chmodSync(d, 0o700);
    out['dir after chmod 700'] = fs.statSync(d).mode.toString(8);
  } catch (e) {
    out['dir after chmod 700'] = errInfo(e);
  }
  try {
    fs.chmodSync(f, 0o600);
  } catch {}
  fs.rmSync(d, { recursive: true, force: true });
  return out;
}

await probe('fs.chmod / stat().mode in os.tmpdir()', async () => chmodProbe(os.tmpdir()));
await probe('fs.chmod / stat().mode on a Linux path (Z:)', async () => (isWin ? chmodProbe('/tmp') : { skipped: 'not win32' }));

await probe('/proc', async () => {
  const r = { existsProc: fs.existsSync('/proc'), resolvesTo: path.resolve('/proc') };
  try {
    r.procSelfStatusFirstLine = fs.readFileSync('/proc/self/status', 'utf8').split('\n')[0];
  } catch (e) {
    r.procSelfStatus = errInfo(e).code;
  }
  return r;
});

await probe('process.kill(pid, 0) on a dead pid and on self', async () => {
  const r = { self: null, dead: null };
  try {
    r.self = process.kill(process.pid, 0);
  } catch (e) {
    r.self = errInfo(e);
  }
  const cp = spawn(process.execPath, ['-e', '0']);
  await once(cp, 'exit');
  try {
    r.dead = process.kill(cp.pid, 0);
  } catch (e) {
    r.dead = errInfo(e);
  }
  return r;
});

if (!isWin) {
  // Unix sockets leave files behind (the stale-name probe on purpose).
  for (const f of fs.readdirSync(os.tmpdir())) {
    if (f.startsWith(`${tag}-`)) fs.rmSync(path.join(os.tmpdir(), f), { force: true });
  }
}

if (JSON_OUT) console.log(JSON.stringify(results, null, 2));
