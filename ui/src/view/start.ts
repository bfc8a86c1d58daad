// The start screen: host a room from local files, or join one with an invite.
import { baseName } from "../derive";
import { h } from "../dom";
import type { AppState } from "../state";
import { busy, opError } from "./common";
import { notice } from "./status";

const SHOWN_FILES = 4;

function fileList(files: string[]): HTMLElement {
  if (files.length === 0) {
    return h("p", { class: "hint" }, "No files yet — you can also add them later, or drop them here.");
  }
  const shown = files.slice(0, SHOWN_FILES).map((f) => h("li", { "data-key": f, title: f }, baseName(f)));
  const more = files.length - shown.length;
  return h(
    "div",
    { class: "picked" },
    h("ul", { class: "file-list", "aria-label": "Chosen files" }, shown, more > 0 ? h("li", { class: "muted" }, `+${more} more`) : null),
    h("button", { type: "button", class: "btn link", "data-action": "host-files-clear", "aria-label": "Clear chosen files" }, "Clear"),
  );
}

function hostPanel(s: AppState): HTMLElement {
  const op = s.start?.kind === "host" ? s.start.op : null;
  const loading = op ? busy(op) : false;
  const name = s.settings.state === "ready" && s.settings.data.displayName ? `${s.settings.data.displayName}'s room` : "Listening party";
  return h(
    "form",
    { class: "panel", novalidate: true, "data-form": "host", "aria-labelledby": "host-title" },
    h("h2", { id: "host-title" }, "Host a room"),
    h("label", { for: "host-name" }, "Room name"),
    h("input", {
      id: "host-name",
      name: "name",
      type: "text",
      maxlength: 60,
      placeholder: name,
      autocomplete: "off",
      "data-testid": "host-name",
      "aria-label": "Room name",
    }),
    h(
      "div",
      { class: "row" },
      h(
        "button",
        { type: "button", class: "btn", "data-action": "host-files", "data-testid": "host-files", "aria-label": "Choose audio files to play" },
        s.hostFiles.length ? `${s.hostFiles.length} file${s.hostFiles.length === 1 ? "" : "s"} chosen — add more` : "Choose files…",
      ),
    ),
    fileList(s.hostFiles),
    h(
      "button",
      { type: "submit", class: "btn primary", disabled: loading, "aria-busy": loading, "data-testid": "host-start", "aria-label": "Start hosting the room" },
      loading ? "Starting…" : "Start room",
    ),
    op ? opError(op) : null,
  );
}

function joinPanel(s: AppState): HTMLElement {
  const op = s.start?.kind === "join" ? s.start.op : null;
  const loading = op ? busy(op) : false;
  return h(
    "form",
    { class: "panel", novalidate: true, "data-form": "join", "aria-labelledby": "join-title" },
    h("h2", { id: "join-title" }, "Join a room"),
    h("label", { for: "join-invite" }, "Invite"),
    h("input", {
      id: "join-invite",
      name: "invite",
      type: "text",
      required: true,
      placeholder: "whatssound://join?… or https://…",
      autocomplete: "off",
      spellcheck: "false",
      "data-testid": "join-invite",
      "aria-label": "Invite link",
    }),
    h("p", { class: "hint" }, "Paste the invite the host sent you."),
    h(
      "button",
      { type: "submit", class: "btn primary", disabled: loading, "aria-busy": loading, "data-testid": "join-start", "aria-label": "Join the room" },
      loading ? "Joining…" : "Join",
    ),
    op ? opError(op) : null,
  );
}

export function startScreen(s: AppState): HTMLElement {
  return h(
    "main",
    { class: "start", "data-key": "start" },
    h(
      "header",
      { class: "start-head" },
      h("h1", { class: "logo" }, h("span", { "aria-hidden": "true" }, "♫ "), "WhatsSound"),
      h("p", { class: "tagline" }, "Listen together, in sync."),
      h("button", { type: "button", class: "btn ghost", "data-action": "settings-open", "data-testid": "settings-open", "aria-label": "Open settings" }, "⚙ Settings"),
    ),
    notice(s),
    h("div", { class: "start-panels" }, hostPanel(s), joinPanel(s)),
    s.dropHover ? h("div", { class: "drop-overlay", "aria-hidden": "true" }, "Drop audio files to host them") : null,
  );
}

export function endedScreen(reason: string): HTMLElement {
  return h(
    "main",
    { class: "ended", "data-key": "ended", "data-testid": "room-ended", role: "alert" },
    h("h1", null, "Room ended"),
    h("p", null, reason || "The room is closed."),
    h("button", { type: "button", class: "btn primary", "data-action": "back-to-start", "aria-label": "Back to start" }, "Back to start"),
  );
}
