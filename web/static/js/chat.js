// The chat list shared by the viewer and the console: history, new messages, deletions.
import { el } from "./core.js";

export class ChatList {
  /** `actions(message)` may return extra nodes per line (the console's moderation buttons). */
  constructor(list, { actions = null, max = 200 } = {}) {
    this.list = list;
    this.actions = actions;
    this.max = max;
  }

  reset(messages) {
    this.list.replaceChildren();
    for (const message of messages) this.add(message);
  }

  add(message) {
    const line = el(
      "li",
      { dataset: { id: message.id, user: String(message.user.id) } },
      el("b", {}, message.user.name),
      " ",
      el("span", { class: "text" }, message.text),
      this.actions ? this.actions(message) : null,
    );
    const atBottom = this.list.scrollTop + this.list.clientHeight >= this.list.scrollHeight - 8;
    this.list.append(line);
    while (this.list.children.length > this.max) this.list.firstElementChild.remove();
    if (atBottom) this.list.scrollTop = this.list.scrollHeight;
  }

  remove(id) {
    for (const line of this.list.querySelectorAll("li")) if (line.dataset.id === id) line.remove();
  }
}
