#!/usr/bin/env node
// Join storm: --clients WebSocket socket.io clients (guests, or signed in with --token-file's
// tokens; spread over the --url values)
// connect and `join` one room, at most --concurrency in flight (default: all at once, as fast as
// the load generator can). Prints one JSON line:
//   {"type": "joinstorm", clients, joined, refused, join_failed, all_joined_s,
//    join_ack_ms: {p50, p99, max}, connect_join_ms: {p50, p99}, errors}
// - all_joined_s: from the first connect attempt until the last join ack;
// - join_ack_ms: from sending `join` to its ack, per client;
// - connect_join_ms: from opening the WebSocket to the join ack, per client;
// - refused: connections that never completed the Engine.IO handshake (TCP refused, reset,
//   timed out); join_failed: connected but the join was refused or never acked.
// Every client is closed at the end. Exit status 0 even when some failed: the caller judges.
// stormgen/ is its Go twin (same flags, protocol work and JSON line for a fraction of the CPU per
// client; run.py --joinstorm-loadgen go): keep the two in step (tests/bench/test_stormgen.py).
//
//   node joinstorm.js --url http://127.0.0.1:8301 --stream-id 1 --clients 3000 [--concurrency 500]
//       [--token-file tokens.json]
'use strict';

const { parseArgs } = require('node:util');
const fs = require('node:fs');
const { hrnow, rawClient, pool, errorSummary } = require('./lib');

/** The p-th percentile (nearest rank) of unsorted numbers, in ms with 1 decimal; null if none. */
function pct(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return +sorted[rank].toFixed(1);
}

async function main() {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', multiple: true },
      'stream-id': { type: 'string', default: '1' },
      clients: { type: 'string', default: '1000' },
      concurrency: { type: 'string' },
      timeout: { type: 'string', default: '30' },
      'token-file': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(fs.readFileSync(__filename, 'utf8').split("'use strict'")[0]);
    return;
  }
  const urls = values.url && values.url.length ? values.url : ['http://127.0.0.1:8301'];
  const total = Number(values.clients);
  const concurrency = Math.max(1, Number(values.concurrency || total));
  const streamId = Number(values['stream-id']);
  const timeoutMs = Number(values.timeout) * 1000;
  // With --token-file (a JSON list of access tokens), client i signs in with token i (modulo).
  const tokens = values['token-file'] ? JSON.parse(fs.readFileSync(values['token-file'], 'utf8')) : null;

  const started = hrnow();
  let lastAck = started;
  const results = await pool(total, concurrency, async (i) => {
    const auth = tokens ? { token: tokens[i % tokens.length] } : undefined;
    const client = await rawClient(urls[i % urls.length], { streamId, timeoutMs, auth });
    lastAck = Math.max(lastAck, hrnow());
    return client;
  });
  const joined = results.filter((r) => r.ok).map((r) => r.value);
  const refused = results.filter((r) => !r.ok && r.error.refused).length;
  const line = {
    type: 'joinstorm',
    clients: total,
    concurrency,
    joined: joined.length,
    refused,
    join_failed: total - joined.length - refused,
    all_joined_s: +((lastAck - started) / 1000).toFixed(2),
    join_ack_ms: {
      p50: pct(joined.map((c) => c.joinMs), 50),
      p99: pct(joined.map((c) => c.joinMs), 99),
      max: pct(joined.map((c) => c.joinMs), 100),
    },
    connect_join_ms: {
      p50: pct(joined.map((c) => c.totalMs), 50),
      p99: pct(joined.map((c) => c.totalMs), 99),
    },
    errors: errorSummary(results),
  };
  for (const c of joined) c.close();
  process.stdout.write(`${JSON.stringify(line)}\n`);
  setTimeout(() => process.exit(0), 200);
}

main().catch((error) => {
  process.stderr.write(`joinstorm: ${error.stack || error}\n`);
  process.exit(1);
});
