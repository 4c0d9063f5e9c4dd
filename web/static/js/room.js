// One live room over socket.io: join, apply events in seq order, and after a dropped
// connection (or a gap in seq) catch up with `resume`, so no durable event is lost.
import { io } from "/assets/vendor/socket.io.esm.min.js";
import { config, session } from "./core.js";

// Room events that take the room's next seq and are kept for `resume`.
const DURABLE = [
  "chat", "chat_deleted", "moderation", "product_pinned", "product_unpinned",
  "stock", "sold_out", "order_placed", "order_paid", "stream_status",
];
const EPHEMERAL = ["viewers", "reactions"];

export class LiveRoom extends EventTarget {
  constructor(streamId) {
    super();
    this.streamId = streamId;
    this.seq = null; // highest durable seq applied
    this.epoch = null; // the room's seq counts within this epoch (it changes if Redis reset)
    this.socket = null;
    this.catchingUp = null; // Promise while a resume runs; live events wait behind it
    this.queue = [];
  }

  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }

  /** Connect (again) with the tab's current token; a guest without one. */
  connect() {
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    const token = session.token();
    const socket = io(config.gateway || undefined, {
      transports: ["websocket"],
      auth: token ? { token } : {},
      reconnectionDelay: 500,
      reconnectionDelayMax: 4000,
    });
    this.socket = socket;
    socket.on("connect", () => this.onConnect(socket));
    socket.on("disconnect", (reason) => this.emit("connection", { state: "down", reason }));
    socket.on("connect_error", (err) => this.emit("connection", { state: "error", code: err?.data?.code }));
    for (const name of DURABLE) socket.on(name, (data) => this.receive(name, data));
    for (const name of EPHEMERAL) socket.on(name, (data) => this.emit(name, data));
    socket.on("chat_batch", (batch) => {
      for (const message of batch.messages) this.receive("chat", message);
    });
    socket.on("order_status", (data) => this.emit("order_status", data));
  }

  call(event, payload) {
    return new Promise((resolve) => {
      if (!this.socket?.connected) {
        resolve({ ok: false, error: { code: "network", message: "not connected" } });
        return;
      }
      this.socket.timeout(8000).emit(event, payload, (err, ack) => {
        resolve(err ? { ok: false, error: { code: "network", message: "no answer" } } : ack);
      });
    });
  }

  async onConnect(socket) {
    const ack = await this.call("join", { stream_id: this.streamId });
    if (socket !== this.socket) return;
    if (!ack.ok) {
      this.emit("join_failed", ack.error);
      return;
    }
    if (this.seq === null) {
      this.snapshot(ack);
      const early = this.queue.splice(0);
      for (const [event, data] of early) this.receive(event, data);
    } else {
      await this.catchUp(ack);
    }
    this.emit("connection", { state: "up" });
  }

  snapshot(state) {
    this.seq = state.seq;
    this.epoch = state.epoch ?? null;
    this.emit("snapshot", state);
  }

  /**
   * Ask for everything after our seq. Across a reset of the room's counter (another epoch) the
   * answer carries `reload`, the whole state; a log too short to reach back means join again.
   */
  catchUp(joinAck = null) {
    if (this.catchingUp) return this.catchingUp;
    this.catchingUp = (async () => {
      const ask = { stream_id: this.streamId, since_seq: this.seq ?? 0 };
      if (this.epoch !== null) ask.epoch = this.epoch;
      const answer = await this.call("resume", ask);
      if (answer.ok && answer.complete) {
        for (const { event, data } of answer.missed) this.apply(event, data);
      } else if (answer.ok && answer.reload) {
        this.snapshot(answer.reload);
      } else {
        const ack = joinAck ?? (await this.call("join", { stream_id: this.streamId }));
        if (ack.ok) this.snapshot(ack);
      }
      this.catchingUp = null;
      const waiting = this.queue.splice(0);
      for (const [event, data] of waiting) this.receive(event, data);
    })();
    return this.catchingUp;
  }

  receive(event, data) {
    if (this.catchingUp || this.seq === null) {
      this.queue.push([event, data]);
      return;
    }
    const known = data.epoch !== undefined && this.epoch !== null;
    if (known && data.epoch < this.epoch) return; // sent before the reset we already reloaded
    const otherEpoch = known && data.epoch !== this.epoch;
    if (otherEpoch || (typeof data.seq === "number" && data.seq > this.seq + 1)) {
      this.queue.push([event, data]);
      this.catchUp();
      return;
    }
    this.apply(event, data);
  }

  apply(event, data) {
    if (typeof data.seq === "number") {
      if (data.seq <= this.seq) return; // already applied (resume and live can overlap)
      this.seq = data.seq;
    }
    this.emit(event, data);
  }
}
