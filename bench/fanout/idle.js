#!/usr/bin/env node
// Idle connections: open --connections WebSocket socket.io connections (guests, spread over the
// --url values), optionally join one room each, and hold them. Prints one JSON line once all
// attempts are done - {"type": "ready", connected, failed, connect_s, client_rss_mb, errors} -
// then holds until SIGTERM/SIGINT or --hold seconds, and prints
// {"type": "closed", disconnects} on the way out. The runner (run.py) reads the server's VmRSS
// before and after "ready" to get resident memory per connection.
//
// Uses the lightweight protocol client of lib.js (it answers pings like any client), so 10,000
// connections fit in one process; each needs a file descriptor on both ends: `ulimit -n`.
//
//   node idle.js --url http://127.0.0.1:8301 --connections 10000 [--stream-id 1] [--hold 60]
'use strict';

const { parseArgs } = require('node:util');
const fs = require('node:fs');
const { hrnow, rawClient, pool, errorSummary } = require('./lib');

async function main() {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', multiple: true },
      connections: { type: 'string', default: '10000' },
      'stream-id': { type: 'string' },
      'connect-concurrency': { type: 'string', default: '200' },
      hold: { type: 'string', default: '0' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(fs.readFileSync(__filename, 'utf8').split("'use strict'")[0]);
    return;
  }
  const urls = values.url && values.url.length ? values.url : ['http://127.0.0.1:8301'];
  const total = Number(values.connections);
  const streamId = values['stream-id'] ? Number(values['stream-id']) : null;
  const concurrency = Math.max(1, Number(values['connect-concurrency']));
  const holdS = Number(values.hold);

  let disconnects = 0;
  let holding = false;
  const clients = [];
  const started = hrnow();
  const results = await pool(total, concurrency, async (i) => {
    const client = await rawClient(urls[i % urls.length], {
      streamId,
      onClose: () => {
        if (holding) disconnects += 1;
      },
    });
    clients.push(client);
  });
  holding = true;
  const line = {
    type: 'ready',
    connections: total,
    connected: clients.length,
    failed: total - clients.length,
    connect_s: +((hrnow() - started) / 1000).toFixed(2),
    client_rss_mb: Math.round(process.memoryUsage().rss / 2 ** 20),
    errors: errorSummary(results),
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);

  let closed = false;
  const finish = () => {
    if (closed) return;
    closed = true;
    holding = false;
    for (const c of clients) c.close();
    process.stdout.write(`${JSON.stringify({ type: 'closed', disconnects })}\n`);
    setTimeout(() => process.exit(0), 200);
  };
  process.on('SIGTERM', finish);
  process.on('SIGINT', finish);
  if (holdS > 0) setTimeout(finish, holdS * 1000);
}

main().catch((error) => {
  process.stderr.write(`idle: ${error.stack || error}\n`);
  process.exit(1);
});
