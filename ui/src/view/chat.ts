// Chat: history, who is typing, and the send box.
import type { RoomView } from "../bindings";
import { clockTime, typingText } from "../derive";
import { h } from "../dom";

export function chatPanel(view: RoomView): HTMLElement {
  const typing = typingText(view.people, view.me);
  return h(
    "section",
    { class: "card chat", "aria-labelledby": "chat-title" },
    h("h2", { id: "chat-title", class: "panel-title" }, "Chat"),
    h(
      "ol",
      { class: "chat-log", "data-testid": "chat-log", "aria-label": "Chat messages", "aria-live": "polite", tabindex: 0 },
      view.chat.length === 0 ? h("li", { class: "empty", "data-key": "empty" }, "No messages yet — say hi!") : null,
      view.chat.map((line) =>
        h(
          "li",
          { class: `chat-line${line.fromId === view.me ? " mine" : ""}`, "data-key": line.id, "data-testid": "chat-line" },
          h("span", { class: "from" }, line.fromId === view.me ? "You" : line.from),
          h("time", { class: "at", datetime: new Date(line.atMs).toISOString() }, clockTime(line.atMs)),
          h("p", { class: "text" }, line.text),
        ),
      ),
    ),
    h("p", { class: "typing", "data-testid": "typing", "aria-live": "polite" }, typing ?? ""),
    h(
      "form",
      { class: "chat-form", novalidate: true, "data-form": "chat" },
      h("input", {
        type: "text",
        name: "text",
        maxlength: 500,
        autocomplete: "off",
        placeholder: "Say something…  ( / )",
        "data-testid": "chat-input",
        "aria-label": "Chat message",
      }),
      h("button", { type: "submit", class: "btn primary", "data-testid": "chat-send", "aria-label": "Send message" }, "Send"),
    ),
  );
}
