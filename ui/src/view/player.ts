// Now playing: cover, title, progress / seek, buffering, host controls and reactions.
import type { NowPlaying, RoomView } from "../bindings";
import { bufferDone, bufferFraction, formatTime, isHost, positionAt } from "../derive";
import { h, svgIcon } from "../dom";
import type { AppState, Floating } from "../state";

const ICON_PLAY = "M8 5v14l11-7z";
const ICON_PAUSE = "M6 5h4v14H6zM14 5h4v14h-4z";
const ICON_SKIP = "M6 6l8.5 6L6 18zM16 6h2v12h-2z";

export const REACTIONS: ReadonlyArray<[emoji: string, name: string]> = [
  ["👍", "thumbs up"],
  ["❤️", "love"],
  ["😂", "laugh"],
  ["🔥", "fire"],
  ["👏", "applause"],
  ["🎉", "party"],
];

function cover(np: NowPlaying | null, failed: string | null): HTMLElement {
  const url = np?.coverUrl ?? null;
  if (url && url !== failed) {
    return h("div", { class: "cover" }, h("img", { src: url, alt: `Cover art for ${np?.title ?? "this track"}`, "data-cover": url }));
  }
  return h("div", { class: "cover empty", "aria-hidden": "true" }, "♪");
}

function buffering(s: AppState, np: NowPlaying): HTMLElement | null {
  const b = s.buffering;
  if (!b || b.trackId !== np.trackId || bufferDone(b)) return null;
  const f = bufferFraction(b);
  const label = f === null ? `Buffering… ${(b.bufferedMs / 1000).toFixed(1)} s ready` : `Buffering ${Math.round(f * 100)}%`;
  return h(
    "div",
    { class: "buffering", "data-testid": "buffering" },
    h("progress", { max: 1, value: f ?? undefined, "aria-label": "Buffering the current track" }),
    h("span", null, label),
  );
}

function progress(s: AppState, np: NowPlaying | null, host: boolean, now: number): HTMLElement {
  const duration = np?.durationMs ?? null;
  const pos = np ? (s.seekDraft ?? positionAt(np, now)) : 0;
  const canSeek = host && np !== null && duration !== null;
  return h(
    "div",
    { class: "progress" },
    h("span", { class: "time", "data-testid": "now-position" }, formatTime(np ? pos : null)),
    h("input", {
      type: "range",
      class: "seek",
      min: 0,
      max: duration ?? 0,
      step: 250,
      value: Math.round(pos),
      disabled: !canSeek,
      "data-controlled": true,
      "data-testid": "seek",
      "aria-label": host ? "Seek" : "Track progress",
      "aria-valuetext": `${formatTime(pos)} of ${formatTime(duration)}`,
    }),
    h("span", { class: "time" }, formatTime(duration)),
  );
}

function controls(np: NowPlaying | null): HTMLElement {
  const playing = np?.playing ?? false;
  return h(
    "div",
    { class: "controls" },
    h(
      "button",
      {
        type: "button",
        class: "btn round primary",
        "data-action": "play-pause",
        "data-testid": "play-pause",
        "aria-label": playing ? "Pause" : "Play",
        title: playing ? "Pause (Space)" : "Play (Space)",
      },
      svgIcon(playing ? ICON_PAUSE : ICON_PLAY),
    ),
    h("button", { type: "button", class: "btn round", "data-action": "skip", "data-testid": "skip", "aria-label": "Skip to the next track", title: "Skip" }, svgIcon(ICON_SKIP)),
  );
}

function floating(reactions: Floating[]): HTMLElement {
  return h(
    "div",
    { class: "float-layer", "aria-hidden": "true" },
    reactions.map((r) =>
      h("span", { class: "float", "data-key": `r${r.id}`, style: `left: ${10 + ((r.id * 37) % 80)}%`, title: r.from }, r.emoji),
    ),
  );
}

function reactionBar(): HTMLElement {
  return h(
    "div",
    { class: "reactions", role: "group", "aria-label": "Reactions" },
    REACTIONS.map(([emoji, name]) =>
      h("button", { type: "button", class: "btn emoji", "data-action": "react", "data-emoji": emoji, "aria-label": `React with ${name}` }, emoji),
    ),
  );
}

export function nowPlaying(s: AppState, view: RoomView, now: number): HTMLElement {
  const np = view.nowPlaying;
  const host = isHost(view);
  const sub = np ? [np.artist, np.album].filter(Boolean).join(" — ") : host ? "Add tracks and press play." : "Waiting for the host to play something.";
  return h(
    "section",
    { class: "card now", "aria-label": "Now playing" },
    cover(np, s.coverFailed),
    h(
      "div",
      { class: "now-main" },
      h("p", { class: "eyebrow" }, np ? (np.playing ? "Now playing" : "Paused") : "Nothing playing"),
      h("h2", { class: "now-title", "data-testid": "now-title", title: np?.title ?? "" }, np ? np.title : "—"),
      h("p", { class: "now-sub" }, sub),
      progress(s, np, host, now),
      np ? buffering(s, np) : null,
      h("div", { class: "now-actions" }, host ? controls(np) : null, reactionBar()),
    ),
    floating(s.reactions),
  );
}
