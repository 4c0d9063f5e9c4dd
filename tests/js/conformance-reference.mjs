// The Node reference for the protocol conformance tests (tests/realtime/conformance/): plain
// socket.io 4.8 at /socket.io/ and a bare engine.io 6 echo server at /engine.io/ on one port,
// configured as the Socket.IO and Engine.IO protocol documents describe their reference servers
// ("Test suite" sections: pingInterval 300, pingTimeout 200, maxPayload 1e6, connectTimeout
// 1000, CORS "*"). Our gateway's conformance entry point (realtime/conformance.py) registers the
// same handlers, so the same tests run against both and a regression shows as a difference.
//
// Usage: node conformance-reference.mjs [port=3000] [host=127.0.0.1]; prints "listening" once up.
import http from "node:http";
import { Server as EngineServer } from "engine.io";
import { Server } from "socket.io";

const port = Number(process.argv[2] || 3000);
const host = process.argv[3] || "127.0.0.1";
const timing = { pingInterval: 300, pingTimeout: 200, maxHttpBufferSize: 1e6 };

const httpServer = http.createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"status":"ok"}');
  }
});

const io = new Server(httpServer, { ...timing, connectTimeout: 1000, cors: { origin: "*" } });
io.on("connection", (socket) => {
  socket.emit("auth", socket.handshake.auth);
  socket.on("message", (...args) => socket.emit("message-back", ...args));
  socket.on("message-with-ack", (...args) => {
    const ack = args.pop();
    ack(...args);
  });
});
io.of("/custom").on("connection", (socket) => {
  socket.emit("auth", socket.handshake.auth);
});

const engine = new EngineServer({ ...timing, cors: { origin: "*" } });
engine.attach(httpServer, { path: "/engine.io/" });
engine.on("connection", (socket) => {
  socket.on("message", (data) => socket.send(data));
});

httpServer.listen(port, host, () => console.log("listening"));
