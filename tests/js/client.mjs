// Drives the gateway with the official socket.io-client and prints one JSON line per happening:
//   {"kind": "connect"} | {"kind": "connect_error", "message", "data"} |
//   {"kind": "ack", "event", "ack"} | {"kind": "event", "event", "data"} | {"kind": "done"}
// Usage: node client.mjs <url> <token|-> <stream_id> <text> [max_listen_ms]
// After its own calls it listens until it has heard a chat message from someone else and a
// `reactions` event (or the time is up).
import { io } from "socket.io-client";

const [url, token, streamArg, text, listenArg] = process.argv.slice(2);
const streamId = Number(streamArg);
const listenMs = Number(listenArg ?? 1500);
const print = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const socket = io(url, {
  transports: ["websocket"],
  reconnection: false,
  auth: token && token !== "-" ? { token } : {},
});

let ownChatId = null;
const chatIds = [];
let heardReactions = false;
let finished = false;
const finish = () => {
  if (finished) return;
  finished = true;
  print({ kind: "done" });
  socket.close();
  process.exit(0);
};

const maybeFinish = () => {
  const heardOther = ownChatId !== null && chatIds.some((id) => id !== ownChatId);
  if (heardOther && heardReactions) finish();
};

socket.onAny((event, data) => {
  print({ kind: "event", event, data });
  const messages = event === "chat" ? [data] : event === "chat_batch" ? data.messages : [];
  chatIds.push(...messages.map((m) => m.id));
  if (event === "reactions") heardReactions = true;
  maybeFinish();
});

socket.on("connect_error", (err) => {
  print({ kind: "connect_error", message: err.message, data: err.data ?? null });
  print({ kind: "done" });
  process.exit(0);
});

socket.on("connect", async () => {
  print({ kind: "connect" });
  const call = async (event, payload) => {
    const ack = await socket.timeout(5000).emitWithAck(event, payload);
    print({ kind: "ack", event, ack });
    return ack;
  };
  await call("join", { stream_id: streamId });
  const chatAck = await call("chat", { stream_id: streamId, text });
  await call("react", { stream_id: streamId, kind: "heart" });
  await call("chat", { stream_id: "not-a-number", text });
  ownChatId = chatAck.ok ? chatAck.id : "";
  maybeFinish();
  setTimeout(finish, listenMs);
});
