// The room screen: header (name, invite, sync, settings, leave), banner, and the panels.
import type { RoomView } from "../bindings";
import { isHost } from "../derive";
import { h } from "../dom";
import type { AppState } from "../state";
import { chatPanel } from "./chat";
import { busy, opError } from "./common";
import { peoplePanel } from "./people";
import { nowPlaying } from "./player";
import { queuePanel } from "./queue";
import { banner, notice, syncIndicator } from "./status";

function inviteBox(s: AppState, invite: string): HTMLElement {
  const making = busy(s.invite);
  return h(
    "div",
    { class: "invite", role: "group", "aria-label": "Invite" },
    h("span", { class: "label" }, "Invite"),
    h("code", { class: "invite-text", "data-testid": "invite-text", title: invite, tabindex: 0, "aria-label": "Invite link" }, invite),
    h(
      "button",
      { type: "button", class: "btn small", "data-action": "copy-invite", "data-testid": "invite-copy", "aria-label": "Copy the invite" },
      s.copied ? "Copied ✓" : "Copy",
    ),
    h(
      "button",
      {
        type: "button",
        class: "btn small ghost",
        "data-action": "new-invite",
        "data-testid": "invite-new",
        disabled: making,
        "aria-busy": making,
        "aria-label": "Make a new invite (the old one stops working)",
        title: "The old invite stops working",
      },
      making ? "Creating…" : "New invite",
    ),
    opError(s.invite),
  );
}

function header(s: AppState, view: RoomView): HTMLElement {
  const host = isHost(view);
  const leaving = busy(s.leave);
  return h(
    "header",
    { class: "topbar" },
    h(
      "div",
      { class: "room-name" },
      h("h1", { title: view.name }, view.name),
      h("span", { class: `badge ${view.role}` }, host ? "Host" : "Listener"),
    ),
    host && view.invite ? inviteBox(s, view.invite) : h("div", { class: "spacer" }),
    syncIndicator(s),
    h("button", { type: "button", class: "btn ghost", "data-action": "settings-open", "data-testid": "settings-open", "aria-label": "Open settings" }, "⚙"),
    h(
      "button",
      { type: "button", class: "btn danger", "data-action": "leave", "data-testid": "leave", disabled: leaving, "aria-busy": leaving, "aria-label": host ? "Close the room and leave" : "Leave the room" },
      leaving ? "Leaving…" : "Leave",
    ),
  );
}

export function roomScreen(s: AppState, view: RoomView, now: number): HTMLElement {
  return h(
    "main",
    { class: "room", "data-key": "room" },
    header(s, view),
    banner(s, now),
    notice(s),
    h(
      "div",
      { class: "room-grid" },
      h("div", { class: "stage" }, nowPlaying(s, view, now), queuePanel(s, view)),
      h("div", { class: "side" }, peoplePanel(view), chatPanel(view)),
    ),
  );
}
