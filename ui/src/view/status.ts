// Status strips: connection banner, sync indicator, and the last failed action.
import { bannerText, formatSyncError, syncLevel } from "../derive";
import { h } from "../dom";
import type { AppState } from "../state";
import { errorBlock } from "./common";

export function banner(s: AppState, now: number): HTMLElement | null {
  const c = s.connection;
  if (!c) return null;
  const text = bannerText(c.conn, c.receivedAt, now);
  if (text === null) return null;
  const attempt = c.conn.state === "reconnecting" ? h("span", { class: "muted" }, ` (attempt ${c.conn.attempt})`) : null;
  return h(
    "div",
    { class: `banner ${c.conn.state}`, role: "status", "aria-live": "polite", "data-testid": "banner" },
    h("span", { class: "spinner", "aria-hidden": "true" }),
    text,
    attempt,
  );
}

export function syncIndicator(s: AppState): HTMLElement {
  const sync = s.sync;
  if (!sync) {
    return h("span", { class: "sync unknown", "data-testid": "sync", title: "Waiting for the first clock estimate", "aria-label": "Sync: not measured yet" }, "Sync —");
  }
  // How far from the room this listener may sound: where playback stands against the clock
  // estimate, plus how far that estimate may itself be off.
  const errorMs = Math.abs(sync.errorMs ?? 0) + Math.abs(sync.uncertaintyMs ?? 0);
  const text = formatSyncError(errorMs);
  const rtt = sync.rttMs ?? 0;
  // A clock shared across the LAN: listeners here agree with each other to a LAN's error, whatever
  // the host's path does; the bound below is then the LAN's, not the host's.
  const lan = sync.clockPath === "lan";
  // Through a tunnel across NATs: straight to the host, or by way of its relay server (no direct
  // path could be punched; every byte, and every clock exchange, takes the longer way).
  const relayed = sync.reach === "relay";
  // The link could not carry the original files: smaller Opus copies play, in the same sync.
  const opus = sync.opusKbps;
  const source =
    (lan ? "The room's clock is shared with another listener on this network, so the two of you sound together. " : "") +
    (relayed ? "No direct path to the host could be found through the networks between you, so the room comes via a relay server. " : "") +
    (sync.reach === "direct" ? "Connected straight to the host, through the networks between you. " : "") +
    (opus !== null ? `Your connection is too slow for the original files, so the host sends Opus copies at ${opus} kbit/s. ` : "");
  const detail =
    source +
    `Playback ${(sync.errorMs ?? 0).toFixed(1)} ms from the room's clock, which is known to ±${(sync.uncertaintyMs ?? 0).toFixed(1)} ms ` +
    `(±${(rtt / 2).toFixed(1)} ms at worst, if the network is slower one way). ` +
    `Clock offset ${(sync.offsetMs ?? 0).toFixed(1)} ms, round trip ${rtt.toFixed(1)} ms, ` +
    `${sync.corrections} corrections, ${sync.underruns} underruns`;
  return h(
    "span",
    { class: `sync ${syncLevel(errorMs)}`, "data-testid": "sync", "data-error-ms": errorMs, title: detail, "aria-label": `Sync error ${text}. ${detail}` },
    h("span", { class: "dot", "aria-hidden": "true" }),
    text + (lan ? " · LAN" : "") + (relayed ? " · via relay" : "") + (opus !== null ? ` · Opus ${opus}k` : ""),
  );
}

export function notice(s: AppState): HTMLElement | null {
  if (!s.notice) return null;
  const dismiss = h("button", { type: "button", class: "btn icon", "data-action": "dismiss-notice", "aria-label": "Dismiss this message" }, "✕");
  return h("div", { class: "notice" }, errorBlock(s.notice.message, s.notice.retry, dismiss));
}
