// The play queue: votes, remove, drag to reorder (host), add by dialog or drop.
import type { QueueEntry, RoomView, Vote } from "../bindings";
import { formatTime, isHost } from "../derive";
import { h } from "../dom";
import type { AppState } from "../state";
import { busy } from "./common";

/** A line where the dragged item would land: before or after the item now at its target. */
function dropClass(s: AppState, index: number): string {
  const r = s.reorder;
  if (!r || r.to !== index) return "";
  const from = currentIndex(s, r.trackId);
  if (from === null || from === index) return "";
  return index > from ? " drop-after" : " drop-before";
}

function currentIndex(s: AppState, trackId: string): number | null {
  const view = s.room.state === "ready" ? s.room.data : null;
  const i = view?.queue.findIndex((q) => q.id === trackId) ?? -1;
  return i < 0 ? null : i;
}

function item(s: AppState, q: QueueEntry, index: number, host: boolean): HTMLElement {
  const meta = [q.artist, q.album].filter(Boolean).join(" — ");
  const canRemove = host || q.mine;
  const dragging = s.reorder?.trackId === q.id;
  return h(
    "li",
    {
      class: `queue-item${q.unplayable ? " unplayable" : ""}${dragging ? " dragging" : ""}${dropClass(s, index)}`,
      "data-key": q.id,
      "data-testid": "queue-item",
      "data-track-id": q.id,
      "aria-disabled": q.unplayable ? "true" : null,
    },
    host
      ? h(
          "button",
          {
            type: "button",
            class: "handle",
            "data-action": "reorder",
            "data-track-id": q.id,
            "data-index": index,
            "aria-label": `Move ${q.title} (drag, or use the arrow keys)`,
            title: "Drag to reorder",
          },
          "⠿",
        )
      : null,
    h(
      "div",
      { class: "q-main" },
      h("span", { class: "q-title", title: q.title }, q.title),
      h("span", { class: "q-meta" }, [meta, `added by ${q.mine ? "you" : q.addedBy}`].filter(Boolean).join(" · ")),
      q.unplayable ? h("span", { class: "q-unplayable", role: "note" }, `Can't play: ${q.unplayable}`) : null,
    ),
    h("span", { class: "q-dur" }, formatTime(q.durationMs)),
    voteButton(q, "up"),
    voteButton(q, "down"),
    canRemove
      ? h(
          "button",
          { type: "button", class: "btn icon", "data-action": "remove", "data-track-id": q.id, "data-testid": "remove", "aria-label": `Remove ${q.title}` },
          "✕",
        )
      : null,
  );
}

/** ▲ or ▼ with its count; pressed when it is my vote. Down votes from enough of the room's
 *  listeners skip the track while it plays, so the label says so. */
function voteButton(q: QueueEntry, way: Vote): HTMLElement {
  const up = way === "up";
  const count = up ? q.votes : q.downVotes;
  const mine = q.myVote === way;
  const counted = `${count} ${up ? "up" : "down"} vote${count === 1 ? "" : "s"}`;
  const label = mine
    ? `You voted ${up ? "for" : "against"} ${q.title} (${counted})`
    : `${up ? "Vote for" : "Vote against"} ${q.title} (${counted}${up ? "" : "; enough of these skip it while it plays"})`;
  return h(
    "button",
    {
      type: "button",
      class: `btn vote ${way}${mine ? " on" : ""}`,
      "data-action": "vote",
      "data-track-id": q.id,
      "data-up": String(up),
      "data-testid": up ? "vote" : "vote-down",
      "aria-pressed": String(mine),
      "aria-label": label,
    },
    up ? "▲ " : "▼ ",
    h("span", { class: "count" }, String(count)),
  );
}

export function queuePanel(s: AppState, view: RoomView): HTMLElement {
  const host = isHost(view);
  const adding = busy(s.adding);
  return h(
    "section",
    { class: "card queue-panel", "aria-labelledby": "queue-title" },
    h(
      "div",
      { class: "panel-head" },
      h("h2", { id: "queue-title" }, "Up next ", h("span", { class: "muted" }, `(${view.queue.length})`)),
      h(
        "button",
        { type: "button", class: "btn small", "data-action": "add-files", "data-testid": "add-files", disabled: adding, "aria-busy": adding, "aria-label": "Add audio files to the queue" },
        adding ? "Adding…" : "+ Add files",
      ),
    ),
    h(
      "ol",
      { class: "queue", "data-testid": "queue", "aria-label": "Queue" },
      view.queue.map((q, i) => item(s, q, i, host)),
    ),
    view.queue.length === 0 ? h("p", { class: "empty" }, "The queue is empty. Add files, or drop them anywhere in this window.") : null,
    s.dropHover ? h("div", { class: "drop-overlay", "aria-hidden": "true" }, "Drop to add to the queue") : null,
  );
}
