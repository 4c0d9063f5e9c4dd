#!/usr/bin/env node
// Room receivers for bench/sharded_fanout.py: --per-room raw protocol clients (lib.js's
// rawClient: Engine.IO/socket.io text packets over `ws`, no JSON decoding) join each of --rooms
// on one gateway --url and count the `chat` event packets they get. The Python benchmark runs
// one of these processes per gateway node, so the receivers are spread over several processes
// and cost a few microseconds per copy: the load generator is not what limits the deliveries.
//
// Protocol on stdio: one JSON line `{"ready":true,"joined":N,"failed":F,"errors":[...]}` once
// every client has joined (or failed); then for every line read on stdin one JSON line
// `{"received":<chat packets so far>,"disconnects":D,"close_codes":{code:n},"cpu_s":<CPU s>}`.
// Exits when stdin closes.
//
//   node receivers.js --url http://127.0.0.1:8321 --rooms 1,2,3 --per-room 100
'use strict';

const { parseArgs } = require('node:util');
const readline = require('node:readline');
const { rawClient, pool, errorSummary, procCpuSeconds } = require('./lib');

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    rooms: { type: 'string' },
    'per-room': { type: 'string', default: '100' },
    'connect-concurrency': { type: 'string', default: '50' },
  },
});
const rooms = values.rooms.split(',').map(Number);
const perRoom = Number(values['per-room']);
let received = 0;
let disconnects = 0;
const closeCodes = {}; // WebSocket close code -> sockets closed with it (not by us)
let finishing = false;
const sockets = [];

function onEvent(s) {
  if (s.startsWith('42["chat"')) received += 1;
}

async function joinOne(i) {
  const socket = await rawClient(values.url, {
    streamId: rooms[Math.floor(i / perRoom)],
    onEvent,
    onClose: (code) => {
      if (finishing) return;
      disconnects += 1;
      closeCodes[code] = (closeCodes[code] || 0) + 1;
    },
    timeoutMs: 60000,
  });
  sockets.push(socket);
}

async function main() {
  const n = rooms.length * perRoom;
  const results = await pool(n, Number(values['connect-concurrency']), joinOne);
  const ready = { ready: true, joined: sockets.length, failed: n - sockets.length };
  process.stdout.write(`${JSON.stringify({ ...ready, errors: errorSummary(results) })}\n`);
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', () => {
    const cpu = procCpuSeconds(process.pid);
    process.stdout.write(`${JSON.stringify({ received, disconnects, close_codes: closeCodes, cpu_s: cpu })}\n`);
  });
  lines.on('close', () => {
    finishing = true;
    for (const s of sockets) s.close();
    setTimeout(() => process.exit(0), 200);
  });
}

main().catch((error) => {
  process.stdout.write(`${JSON.stringify({ ready: false, error: String(error && error.stack) })}\n`);
  process.exit(1);
});
