#!/usr/bin/env node
// Reference server for the fan-out benchmark: plain Node socket.io 4.8 speaking the same
// `join` / `chat` events as our gateway (../../shared CONTRACT "Socket.IO"), with room state in
// process memory. It is the yardstick, not a product: tokens are NOT verified (the user id comes
// from `auth.user_id`, the query's `user_id`, or the unverified `sub` of a JWT), there is no
// rate limit and no Redis. What matters for a fair comparison is kept equal: WebSocket
// permessage-deflate off (Node's default since Engine.IO v4, and our gateway's default), the same
// ping interval, one `chat` packet per message broadcast to the room, throttled `viewers`.
//
// Usage: node reference-server.js [port=8301] [host=127.0.0.1]
'use strict';

const http = require('node:http');
const { Server } = require('socket.io');

const port = Number(process.argv[2] || 8301);
const host = process.argv[3] || '127.0.0.1';
const HISTORY = 50;
const MAX_CHARS = 200;
const VIEWERS_INTERVAL_MS = 1000;
// The gateway's rule for big rooms (VIEWERS_LARGE_ROOM, VIEWERS_BROADCAST_MAX_INTERVAL_S):
// past 2,000 viewers the interval grows in proportion to the count, up to 10 s, so both servers
// write the same number of `viewers` frames in a join storm.
const VIEWERS_LARGE_ROOM = 2000;
const VIEWERS_MAX_INTERVAL_MS = 10000;

const httpServer = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'ok', pid: process.pid }));
    return;
  }
  res.writeHead(404);
  res.end();
});

const io = new Server(httpServer, {
  cors: { origin: '*' },
  pingInterval: 20000,
  pingTimeout: 20000,
  maxHttpBufferSize: 64 * 1024,
  perMessageDeflate: false,
});

/** stream id -> {seq, recent, viewersTimer} */
const rooms = new Map();
let messageCounter = 0;

function roomName(streamId) {
  return `stream:${streamId}`;
}

function roomState(streamId) {
  let state = rooms.get(streamId);
  if (!state) {
    state = { seq: 0, recent: [], viewersTimer: null };
    rooms.set(streamId, state);
  }
  return state;
}

function viewerCount(streamId) {
  const members = io.of('/').adapter.rooms.get(roomName(streamId));
  return members ? members.size : 0;
}

/** The room's `viewers` interval for its current count, as the gateway computes it. */
function viewersIntervalMs(count) {
  if (count <= VIEWERS_LARGE_ROOM) return VIEWERS_INTERVAL_MS;
  return Math.min(VIEWERS_MAX_INTERVAL_MS, Math.floor((VIEWERS_INTERVAL_MS * count) / VIEWERS_LARGE_ROOM));
}

/** At most one `viewers` per room per interval, like the gateway's throttle. */
function scheduleViewers(streamId) {
  const state = roomState(streamId);
  if (state.viewersTimer) return;
  state.viewersTimer = setTimeout(() => {
    state.viewersTimer = null;
    state.seq += 1;
    io.to(roomName(streamId)).emit('viewers', {
      stream_id: streamId,
      count: viewerCount(streamId),
      seq: state.seq,
    });
  }, viewersIntervalMs(viewerCount(streamId)));
}

function fail(code, message) {
  return { ok: false, error: { code, message } };
}

function validStreamId(data) {
  const id = data && data.stream_id;
  return Number.isSafeInteger(id) && id > 0 ? id : null;
}

/** Who the client says it is. Unverified on purpose: this server only stands in for the load. */
function identify(socket) {
  const auth = socket.handshake.auth || {};
  const query = socket.handshake.query || {};
  let id = Number(auth.user_id || query.user_id || 0);
  let name = String(auth.name || query.name || '');
  if (!id && typeof auth.token === 'string' && auth.token.split('.').length === 3) {
    try {
      const claims = JSON.parse(Buffer.from(auth.token.split('.')[1], 'base64url').toString());
      id = Number(claims.sub) || 0;
      name = name || String(claims.name || '');
    } catch {
      id = 0;
    }
  }
  return id > 0 ? { id, name: name || `user-${id}` } : null;
}

io.on('connection', (socket) => {
  const user = identify(socket);
  const joined = new Set();

  socket.on('join', (data, ack) => {
    if (typeof ack !== 'function') return;
    const streamId = validStreamId(data);
    if (streamId === null) return ack(fail('invalid', 'stream_id: must be a positive integer'));
    const state = roomState(streamId);
    socket.join(roomName(streamId));
    joined.add(streamId);
    scheduleViewers(streamId);
    ack({
      ok: true,
      viewers: viewerCount(streamId),
      pinned: null,
      recent_messages: state.recent,
      seq: state.seq,
    });
  });

  socket.on('leave', (data, ack) => {
    const streamId = validStreamId(data);
    if (streamId !== null && joined.delete(streamId)) {
      socket.leave(roomName(streamId));
      scheduleViewers(streamId);
    }
    if (typeof ack === 'function') ack({ ok: true });
  });

  socket.on('chat', (data, ack) => {
    if (typeof ack !== 'function') return;
    if (!user) return ack(fail('unauthorized', 'sign in to chat'));
    const streamId = validStreamId(data);
    if (streamId === null) return ack(fail('invalid', 'stream_id: must be a positive integer'));
    if (!joined.has(streamId)) return ack(fail('forbidden', 'join the stream first'));
    const text = typeof data.text === 'string' ? data.text.trim() : '';
    if (text.length < 1 || text.length > MAX_CHARS) {
      return ack(fail('invalid', `text: 1-${MAX_CHARS} characters`));
    }
    const state = roomState(streamId);
    state.seq += 1;
    messageCounter += 1;
    const message = {
      id: `${process.pid.toString(36)}-${messageCounter.toString(36)}`,
      stream_id: streamId,
      user: { id: user.id, name: user.name },
      text,
      ts: Date.now(),
      seq: state.seq,
    };
    state.recent.push(message);
    if (state.recent.length > HISTORY) state.recent.shift();
    io.to(roomName(streamId)).emit('chat', message);
    ack({ ok: true, id: message.id });
  });

  socket.on('disconnect', () => {
    for (const streamId of joined) scheduleViewers(streamId);
  });
});

httpServer.listen(port, host, () => {
  process.stdout.write(`reference socket.io ${require('socket.io/package.json').version} on http://${host}:${port} pid ${process.pid}\n`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    io.close();
    process.exit(0);
  });
}
