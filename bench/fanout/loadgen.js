#!/usr/bin/env node
// Fan-out load generator: N receivers join one room, S chatters each send `chat` at --rate
// messages/s (staggered evenly), every message carrying its send time and a unique id in its
// text (`t=<monotonic ms>;id=<n>;`). Receivers take the latency of every copy they get, from
// `chat` and from the messages inside `chat_batch` (our gateway coalesces busy rooms).
//
// Timeline: connect + join receivers, connect + join chatters (chat needs a joined room), send
// for --warmup s (not measured), send for --duration s (the steady window), stop, drain until
// every acknowledged message has reached every receiver (or --drain s pass). Reported on one
// JSON line:
//   deliveries_per_s  copies received by the N receivers during the steady window / duration
//   latency_ms        p50/p95/p99/max over every copy of every message sent in the window
//   loss              (messages acked ok in the window x joined receivers) - copies received
//                     by the end of the drain (so a server that falls far behind shows loss)
//   ack_errors        chat acks that were not ok (e.g. rate_limited), by code
//   *_cpu_pct         CPU used during the window (100 = one core): this process, --server-pid
// Receivers live in --workers worker threads, so reading copies does not delay the sends; by
// default they use lib.js's lightweight protocol client (--client raw: no JSON decoding, about
// two thirds of socket.io-client's CPU per copy); --client sio uses socket.io-client. Chatters
// always use socket.io-client. The chatters are room members too (the gateway only takes chat
// from joined sockets), so the server writes every message to N + S sockets; only the N
// receivers are counted.
//
// Options: --url (repeat: receivers and chatters are spread over them), --receivers N,
// --chatters S, --rate (msg/s per chatter, 1), --duration, --warmup, --drain (s), --stream-id,
// --token-file (JSON list of access tokens, one per chatter; without it chatters send
// auth {user_id}, which only the reference server accepts), --text-size, --workers,
// --client raw|sio, --connect-concurrency, --server-pid (repeat), --label.
//
//   node loadgen.js --url http://127.0.0.1:8301 --receivers 1000 --chatters 100 --duration 30
'use strict';

const { parseArgs } = require('node:util');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');
const { createHistogram } = require('node:perf_hooks');
const fs = require('node:fs');
const { hrnow, connect, rawClient, call, pool, errorSummary, procCpuSeconds } = require('./lib');

/** Messages count by id: a Uint32Array that grows as ids do. */
class Counts {
  constructor() {
    this.a = new Uint32Array(1024);
  }
  inc(id, n = 1) {
    if (id >= this.a.length) {
      let size = this.a.length;
      while (size <= id) size *= 2;
      const bigger = new Uint32Array(size);
      bigger.set(this.a);
      this.a = bigger;
    }
    this.a[id] += n;
  }
  get(id) {
    return id < this.a.length ? this.a[id] : 0;
  }
}

// ---------------------------------------------------------------- receivers (worker thread)

function receiverWorker() {
  const o = workerData;
  const latency = createHistogram(); // microseconds
  const counts = new Counts();
  let winStart = Infinity;
  let winEnd = Infinity;
  let windowArrivals = 0; // copies that arrived during the steady window
  let windowCopies = 0; // copies of messages sent during the window (any arrival time)
  let frames = 0;
  let batches = 0;
  let disconnects = 0;
  let finishing = false;
  const sockets = [];

  function onText(text, now) {
    // text = "t=<ms>;id=<n>;..." - parsed without allocation-heavy splitting.
    if (typeof text !== 'string' || text.charCodeAt(0) !== 116 /* t */) return;
    const semi = text.indexOf(';', 2);
    const semi2 = text.indexOf(';', semi + 4);
    if (semi < 0 || semi2 < 0) return;
    const sent = +text.slice(2, semi);
    const id = +text.slice(semi + 4, semi2);
    if (!(id >= 0)) return;
    counts.inc(id);
    if (now >= winStart && now < winEnd) windowArrivals += 1;
    if (sent >= winStart && sent < winEnd) {
      windowCopies += 1;
      const us = Math.round((now - sent) * 1000);
      latency.record(us > 0 ? us : 1);
    }
  }

  function attach(socket) {
    socket.on('chat', (m) => {
      frames += 1;
      onText(m && m.text, hrnow());
    });
    socket.on('chat_batch', (b) => {
      frames += 1;
      batches += 1;
      const now = hrnow();
      const messages = (b && b.messages) || [];
      for (let i = 0; i < messages.length; i++) onText(messages[i].text, now);
    });
    socket.on('disconnect', () => {
      if (!finishing) disconnects += 1;
    });
  }

  /** Raw client: scan the undecoded `chat` / `chat_batch` packet for every `"t=<ms>;id=<n>;`
   * (one in `chat`, many in `chat_batch`); other events (viewers, ...) are skipped. */
  function onRawEvent(s) {
    if (!s.startsWith('42["chat')) return; // chat or chat_batch
    frames += 1;
    const now = hrnow();
    if (s.charCodeAt(8) === 95 /* 42["chat_ */) batches += 1;
    let i = s.indexOf('"t=');
    while (i !== -1) {
      const end = s.indexOf('"', i + 1);
      onText(s.slice(i + 1, end), now);
      i = s.indexOf('"t=', end);
    }
  }

  async function joinOne(i) {
    const url = o.urls[(o.offset + i) % o.urls.length];
    if (o.client === 'raw') {
      const socket = await rawClient(url, {
        streamId: o.streamId,
        onEvent: onRawEvent,
        onClose: () => {
          if (!finishing) disconnects += 1;
        },
        timeoutMs: o.timeoutMs,
      });
      sockets.push(socket);
      return true;
    }
    const socket = await connect(url, { timeoutMs: o.timeoutMs });
    try {
      await call(socket, 'join', { stream_id: o.streamId }, o.timeoutMs);
    } catch (error) {
      socket.close();
      throw error;
    }
    attach(socket); // nothing is sent to the room before every receiver is in
    sockets.push(socket);
    return true;
  }

  async function start() {
    const results = await pool(o.count, o.connectConcurrency, joinOne);
    parentPort.postMessage({
      type: 'ready',
      joined: sockets.length,
      failed: o.count - sockets.length,
      errors: errorSummary(results),
    });
  }

  parentPort.on('message', (msg) => {
    if (msg.type === 'window') {
      winStart = msg.start;
      winEnd = msg.end;
    } else if (msg.type === 'progress') {
      parentPort.postMessage({ type: 'progress', windowCopies });
    } else if (msg.type === 'finish') {
      finishing = true;
      const buffer = counts.a.buffer;
      parentPort.postMessage(
        {
          type: 'result',
          latency,
          counts: counts.a,
          windowArrivals,
          windowCopies,
          frames,
          batches,
          disconnects,
        },
        [buffer],
      );
      for (const s of sockets) s.close();
      setImmediate(() => process.exit(0));
    }
  });

  start().catch((error) => {
    parentPort.postMessage({ type: 'fatal', error: String(error && error.stack) });
  });
}

// ---------------------------------------------------------------- coordinator (main thread)

function options() {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', multiple: true },
      receivers: { type: 'string', default: '100' },
      chatters: { type: 'string', default: '10' },
      rate: { type: 'string', default: '1' },
      duration: { type: 'string', default: '30' },
      warmup: { type: 'string', default: '5' },
      drain: { type: 'string', default: '10' },
      'stream-id': { type: 'string', default: '1' },
      'token-file': { type: 'string' },
      'text-size': { type: 'string', default: '48' },
      workers: { type: 'string', default: '1' },
      client: { type: 'string', default: 'raw' },
      'connect-concurrency': { type: 'string', default: '100' },
      'server-pid': { type: 'string', multiple: true },
      label: { type: 'string', default: '' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(fs.readFileSync(__filename, 'utf8').split("'use strict'")[0]);
    process.exit(0);
  }
  const num = (name) => {
    const v = Number(values[name]);
    if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} must be a number >= 0`);
    return v;
  };
  const o = {
    urls: values.url && values.url.length ? values.url : ['http://127.0.0.1:8301'],
    receivers: num('receivers'),
    chatters: num('chatters'),
    rate: num('rate'),
    duration: num('duration'),
    warmup: num('warmup'),
    drain: num('drain'),
    streamId: num('stream-id'),
    textSize: Math.min(200, num('text-size')),
    workers: Math.max(1, num('workers')),
    connectConcurrency: Math.max(1, num('connect-concurrency')),
    serverPids: (values['server-pid'] || []).map(Number),
    label: values.label,
    client: values.client,
    tokens: [],
    timeoutMs: 20000,
  };
  if (!['raw', 'sio'].includes(o.client)) throw new Error('--client is raw or sio');
  if (o.chatters < 1 || o.rate <= 0 || o.duration <= 0) {
    throw new Error('--chatters >= 1, --rate > 0 and --duration > 0 are required');
  }
  if (values['token-file']) {
    o.tokens = JSON.parse(fs.readFileSync(values['token-file'], 'utf8'));
    if (!Array.isArray(o.tokens) || o.tokens.length === 0) {
      throw new Error('--token-file must hold a non-empty JSON list of access tokens');
    }
    if (o.tokens.length < o.chatters) {
      process.stderr.write(
        `warning: ${o.tokens.length} tokens for ${o.chatters} chatters: some users send for ` +
          'several chatters and share one rate limit\n',
      );
    }
  }
  return o;
}

function startWorkers(o) {
  const workers = [];
  const share = Math.ceil(o.receivers / o.workers);
  for (let w = 0, offset = 0; offset < o.receivers; w++, offset += share) {
    const count = Math.min(share, o.receivers - offset);
    const worker = new Worker(__filename, {
      workerData: {
        urls: o.urls,
        count,
        offset,
        streamId: o.streamId,
        client: o.client,
        connectConcurrency: Math.max(1, Math.floor(o.connectConcurrency / o.workers)),
        timeoutMs: o.timeoutMs,
      },
    });
    worker.on('error', (error) => fatal(`receiver worker ${w}: ${error.stack || error}`));
    workers.push(worker);
  }
  return workers;
}

/** Next message of `type` from each worker. */
function fromAll(workers, type, request) {
  return Promise.all(
    workers.map(
      (w) =>
        new Promise((resolve) => {
          const onMessage = (msg) => {
            if (msg.type === 'fatal') fatal(msg.error);
            if (msg.type === type) {
              w.off('message', onMessage);
              resolve(msg);
            }
          };
          w.on('message', onMessage);
          if (request) w.postMessage(request);
        }),
    ),
  );
}

function fatal(message) {
  process.stderr.write(`loadgen: ${message}\n`);
  process.exit(1);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const at = (time) => sleep(Math.max(0, time - hrnow()));

async function connectChatters(o) {
  const results = await pool(o.chatters, o.connectConcurrency, async (i) => {
    const url = o.urls[i % o.urls.length];
    const token = o.tokens.length ? o.tokens[i % o.tokens.length] : undefined;
    // Without tokens (the reference server) the user id goes in `auth` directly.
    const auth = token ? { token } : { user_id: 1_000_000 + i, name: `chatter-${i}` };
    const socket = await connect(url, { auth, timeoutMs: o.timeoutMs });
    await call(socket, 'join', { stream_id: o.streamId }, o.timeoutMs);
    return socket;
  });
  const failed = results.filter((r) => !r.ok);
  if (failed.length) {
    fatal(`${failed.length}/${o.chatters} chatters failed: ${errorSummary(results).join('; ')}`);
  }
  return results.map((r) => r.value);
}

/** Send message k every 1/(rate*S) s round-robin over the chatters until `end`. */
function runSenders(o, chatters, startAt, end, record) {
  const interval = 1000 / (o.rate * o.chatters);
  const pad = 'x'.repeat(200);
  let k = 0;
  let maxLag = 0;
  return new Promise((resolve) => {
    function tick() {
      let now = hrnow();
      while (startAt + k * interval <= now) {
        const scheduled = startAt + k * interval;
        if (scheduled >= end) return resolve({ sent: k, maxLagMs: maxLag });
        maxLag = Math.max(maxLag, now - scheduled);
        // The send time as the receivers will parse it (milliseconds rounded to the microsecond):
        // both sides must put a message in or out of the window alike, or the drain waits for
        // copies the receivers never count as the window's.
        const stamp = now.toFixed(3);
        let text = `t=${stamp};id=${k};`;
        if (text.length < o.textSize) text += pad.slice(0, o.textSize - text.length);
        record(k, chatters[k % o.chatters], text, +stamp);
        k += 1;
        now = hrnow();
      }
      setTimeout(tick, Math.max(0, startAt + k * interval - now));
    }
    tick();
  });
}

function percentile(hist, p) {
  return hist.count ? +(hist.percentile(p) / 1000).toFixed(2) : null;
}

async function main() {
  const o = options();
  const workers = startWorkers(o);
  const ready = await fromAll(workers, 'ready');
  const joined = ready.reduce((n, r) => n + r.joined, 0);
  const joinErrors = ready.flatMap((r) => r.errors);
  if (joined === 0) fatal(`no receiver could join: ${joinErrors.join('; ')}`);
  const chatters = await connectChatters(o);

  const sendStart = hrnow() + 200;
  const winStart = sendStart + o.warmup * 1000;
  const winEnd = winStart + o.duration * 1000;
  for (const w of workers) w.postMessage({ type: 'window', start: winStart, end: winEnd });

  // Per message: sent in the window?, ack state (0 pending, 1 ok, 2 error).
  const inWindow = new Counts();
  const ackState = new Counts();
  const ackErrors = {};
  const ackLatency = createHistogram();
  let pendingAcks = 0;
  let windowAcked = 0;
  const record = (k, socket, text, now) => {
    if (now >= winStart && now < winEnd) inWindow.inc(k); // as the receivers count `sent`
    pendingAcks += 1;
    socket
      .timeout(o.timeoutMs)
      .emitWithAck('chat', { stream_id: o.streamId, text })
      .then(
        (ack) => {
          if (ack && ack.ok) {
            ackState.inc(k);
            if (inWindow.get(k)) windowAcked += 1;
            ackLatency.record(Math.max(1, Math.round((hrnow() - now) * 1000)));
          } else {
            const code = ack && ack.error ? ack.error.code : 'bad_ack';
            ackErrors[code] = (ackErrors[code] || 0) + 1;
          }
        },
        () => {
          ackErrors.timeout = (ackErrors.timeout || 0) + 1;
        },
      )
      .finally(() => {
        pendingAcks -= 1;
      });
  };

  // CPU of this process and of the servers, sampled at the window's edges.
  const cpu = {};
  const sampleCpu = (name) => {
    cpu[name] = {
      self: process.cpuUsage(),
      servers: o.serverPids.map(procCpuSeconds),
    };
  };
  at(winStart).then(() => sampleCpu('start'));
  at(winEnd).then(() => sampleCpu('end'));

  const sending = await runSenders(o, chatters, sendStart, winEnd, record);
  await at(winEnd + 1);

  // Drain: until every acked window message reached every receiver, or --drain s.
  const drainDeadline = hrnow() + o.drain * 1000;
  for (;;) {
    const progress = await fromAll(workers, 'progress', { type: 'progress' });
    const copies = progress.reduce((n, p) => n + p.windowCopies, 0);
    if ((pendingAcks === 0 && copies >= windowAcked * joined) || hrnow() > drainDeadline) break;
    await sleep(100);
  }
  const drainMs = Math.round(hrnow() - winEnd);

  const results = await fromAll(workers, 'result', { type: 'finish' });
  for (const s of chatters) s.close();

  const latency = createHistogram();
  const counts = new Counts();
  let windowArrivals = 0;
  let frames = 0;
  let batches = 0;
  let disconnects = 0;
  for (const r of results) {
    latency.add(r.latency);
    windowArrivals += r.windowArrivals;
    frames += r.frames;
    batches += r.batches;
    disconnects += r.disconnects;
    for (let id = 0; id < r.counts.length; id++) {
      if (r.counts[id]) counts.inc(id, r.counts[id]);
    }
  }
  let expected = 0;
  let received = 0;
  let duplicates = 0;
  let unacked = 0; // copies of messages whose ack failed or timed out
  let windowSent = 0;
  for (let k = 0; k < sending.sent; k++) {
    const got = counts.get(k);
    if (!inWindow.get(k)) continue;
    windowSent += 1;
    if (!ackState.get(k)) {
      unacked += got;
      continue;
    }
    expected += joined;
    received += Math.min(got, joined);
    duplicates += Math.max(0, got - joined);
  }
  const windowS = o.duration;
  const cpuPct = (a, b) => (a === null || b === null ? null : +((100 * (b - a)) / windowS).toFixed(1));
  const selfCpu =
    cpu.start && cpu.end
      ? cpuPct(
          (cpu.start.self.user + cpu.start.self.system) / 1e6,
          (cpu.end.self.user + cpu.end.self.system) / 1e6,
        )
      : null;
  const out = {
    label: o.label,
    client: o.client,
    urls: o.urls,
    receivers: o.receivers,
    joined,
    join_errors: joinErrors,
    chatters: o.chatters,
    rate_per_chatter: o.rate,
    duration_s: o.duration,
    warmup_s: o.warmup,
    offered_msgs_per_s: o.chatters * o.rate,
    offered_deliveries_per_s: o.chatters * o.rate * joined,
    sent_in_window: windowSent,
    acked_in_window: windowAcked,
    ack_errors: ackErrors,
    deliveries_per_s: Math.round(windowArrivals / windowS),
    latency_ms: {
      p50: percentile(latency, 50),
      p95: percentile(latency, 95),
      p99: percentile(latency, 99),
      max: latency.count ? +(latency.max / 1000).toFixed(2) : null,
      samples: latency.count,
    },
    ack_latency_ms: { p50: percentile(ackLatency, 50), p99: percentile(ackLatency, 99) },
    expected,
    received,
    loss: expected - received,
    loss_pct: expected ? +((100 * (expected - received)) / expected).toFixed(3) : null,
    duplicates,
    unacked_copies: unacked,
    frames,
    chat_batches: batches,
    disconnects,
    drain_ms: drainMs,
    max_send_lag_ms: +sending.maxLagMs.toFixed(1),
    loadgen_cpu_pct: selfCpu,
    server_cpu_pct:
      cpu.start && cpu.end
        ? o.serverPids.map((_, i) => cpuPct(cpu.start.servers[i], cpu.end.servers[i]))
        : [],
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
}

if (isMainThread) {
  main().catch((error) => fatal(error.stack || String(error)));
} else {
  receiverWorker();
}
