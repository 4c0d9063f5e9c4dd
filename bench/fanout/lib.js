// Helpers shared by loadgen.js and idle.js: a monotonic clock common to all threads and
// processes of the machine, socket.io client connections, and bounded-concurrency ramp-up.
'use strict';

const { io } = require('socket.io-client');
const WebSocket = require('ws');

/** Milliseconds on CLOCK_MONOTONIC (process.hrtime): comparable across worker threads and
 * processes on one machine, unlike performance.now(), whose origin is per thread. */
function hrnow() {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Connect one socket.io client over WebSocket only (no polling upgrade dance), no reconnection:
 * a dropped socket must show up as loss, not be papered over by a silent reconnect. */
function connect(url, { auth, timeoutMs = 20000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = io(url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: timeoutMs,
      auth: auth || {},
    });
    socket.once('connect', () => {
      socket.off('connect_error');
      resolve(socket);
    });
    socket.once('connect_error', (err) => {
      socket.close();
      const code = err && err.data && err.data.code ? ` (${err.data.code})` : '';
      reject(new Error(`connect ${url}: ${err && err.message}${code}`));
    });
  });
}

/** A receive-only socket.io client speaking the wire protocol (Engine.IO 4 / Socket.IO 5 text
 * packets) straight over `ws`: connect, optionally `join` one room, answer pings, and hand every
 * event packet to `onEvent(rawText)` undecoded. It costs a fraction of socket.io-client per
 * message (no JSON.parse, no emitter chain) and per connection, so on a small machine the load
 * generator leaves the CPU to the server under test. What the server sends is still the real
 * protocol: a packet it mis-encodes shows up as loss. Resolves with `{close()}` once connected
 * (and, with a `streamId`, once the join is acked ok), with `totalMs` (from opening the WebSocket)
 * and `joinMs` (from sending `join` to its ack). A rejection's `refused` is true when the server
 * never completed the Engine.IO handshake.
 */
function rawClient(url, { streamId = null, onEvent = () => {}, onClose, timeoutMs = 20000, auth }) {
  const target = new URL(url);
  target.protocol = target.protocol === 'https:' ? 'wss:' : 'ws:';
  target.pathname = `${target.pathname.replace(/\/$/, '')}/socket.io/`;
  target.search = 'EIO=4&transport=websocket';
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(target.href, { perMessageDeflate: false, skipUTF8Validation: true });
    let joined = false; // connected and, with a streamId, joined
    const started = hrnow();
    let opened = null; // Engine.IO open packet seen (the server accepted the connection)
    let joinSent = null;
    const done = () => {
      joined = true;
      clearTimeout(timer);
      const now = hrnow();
      resolve({
        close: () => ws.close(),
        totalMs: now - started,
        joinMs: joinSent === null ? null : now - joinSent,
      });
    };
    const fail = (message) => {
      clearTimeout(timer);
      ws.terminate();
      const error = new Error(`${url}: ${message}`);
      error.refused = opened === null; // never got as far as the Engine.IO handshake
      reject(error);
    };
    const timer = setTimeout(() => fail('connect/join timed out'), timeoutMs);
    ws.on('error', (err) => (joined ? null : fail(err.message)));
    ws.on('close', (code) => (joined ? onClose && onClose(code) : fail('closed before join')));
    ws.on('message', (data) => {
      const s = data.toString();
      const c0 = s.charCodeAt(0);
      if (c0 === 52 /* 4: socket.io packet */) {
        const c1 = s.charCodeAt(1);
        if (c1 === 50 /* 2: EVENT */) onEvent(s);
        else if (c1 === 48 /* 0: CONNECT ok */) {
          if (streamId === null) return done();
          joinSent = hrnow();
          ws.send(`420${JSON.stringify(['join', { stream_id: streamId }])}`);
        } else if (c1 === 51 /* 3: ACK */ && !joined) {
          const ack = JSON.parse(s.slice(s.indexOf('[')))[0];
          if (!ack || ack.ok !== true) return fail(`join: ${JSON.stringify(ack)}`);
          done();
        } else if (c1 === 52 /* 4: CONNECT_ERROR */) fail(`connect_error ${s.slice(2)}`);
      } else if (c0 === 50 /* 2: engine ping */) ws.send('3');
      else if (c0 === 48 /* 0: engine open */) {
        opened = hrnow();
        ws.send(auth ? `40${JSON.stringify(auth)}` : '40');
      }
    });
  });
}

/** `{ok: true, ...}` ack or an Error saying why not. */
async function call(socket, event, data, timeoutMs = 15000) {
  const ack = await socket.timeout(timeoutMs).emitWithAck(event, data);
  if (!ack || ack.ok !== true) {
    const code = ack && ack.error ? ack.error.code : 'no_ack';
    const error = new Error(`${event}: ${code} ${ack && ack.error ? ack.error.message : ''}`);
    error.code = code;
    throw error;
  }
  return ack;
}

/** Run `task(i)` for i in [0, n) with at most `concurrency` in flight; returns settled results. */
async function pool(n, concurrency, task) {
  const results = new Array(n);
  let next = 0;
  async function lane() {
    while (next < n) {
      const i = next++;
      try {
        results[i] = { ok: true, value: await task(i) };
      } catch (error) {
        results[i] = { ok: false, error };
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
  return results;
}

/** First few distinct error messages of settled results, for a one-line diagnosis. */
function errorSummary(results, limit = 3) {
  const counts = new Map();
  for (const r of results) {
    if (r && !r.ok) {
      const key = String(r.error && r.error.message).slice(0, 160);
      counts.set(key, (counts.get(key) || 0) + 1);
    }
  }
  return [...counts.entries()].slice(0, limit).map(([message, n]) => `${n}x ${message}`);
}

/** CPU seconds (user + system) a Linux process has used so far, or null if it is gone. */
function procCpuSeconds(pid) {
  try {
    const stat = require('node:fs').readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // CLK_TCK is 100 on Linux
  } catch {
    return null;
  }
}

module.exports = { hrnow, connect, rawClient, call, pool, errorSummary, procCpuSeconds };
