// The play queue: votes, remove, drag to reorder (host), add by dialog or drop.
import type { QueueEntry, RoomView } from "../bindings";
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
    h(
      "button",
      {
        type: "button",
        class: `btn vote${q.myVote ? " on" : ""}`,
        "data-action": "vote",
        "data-track-id": q.id,
        "data-up": String(!q.myVote),
        "data-testid": "vote",
        "aria-pressed": String(q.myVote),
        "aria-label": `${q.myVote ? "Remove your vote for" : "Vote for"} ${q.title} (${q.votes} vote${q.votes === 1 ? "" : "s"})`,
      },
      "▲ ",
      h("span", { class: "count" }, String(q.votes)),
    ),
    canRemove
      ? h(
          "button",
          { type: "button", class: "btn icon", "data-action": "remove", "data-track-id": q.id, "data-testid": "remove", "aria-label": `Remove ${q.title}` },
          "✕",
        )
      : null,
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
