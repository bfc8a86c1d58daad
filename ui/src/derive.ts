// Pure helpers that turn state into what a person sees: times, percentages, labels.
import type { BufferingView as Buffering, ConnectionView as Connection, NowPlaying, Person, RoomView, Settings } from "./bindings";

/** Where the track is at `now`, advancing locally from the last report while it plays. */
export function positionAt(np: NowPlaying, now: number): number {
  let pos = np.positionMs;
  if (np.playing) pos += Math.max(0, now - np.atMs);
  if (np.durationMs !== null) pos = Math.min(pos, np.durationMs);
  return Math.max(0, pos);
}

/** 83_000 → "1:23"; 3_723_000 → "1:02:03". */
export function formatTime(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return "–:––";
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

export function clockTime(atMs: number): string {
  const d = new Date(atMs);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

/** Larger than this, the sync indicator turns to a warning colour. */
export const SYNC_WARN_MS = 5;

export function syncLevel(errorMs: number): "good" | "bad" {
  return Math.abs(errorMs) > SYNC_WARN_MS ? "bad" : "good";
}

/** 0.27 → "±0.3 ms"; 12.4 → "±12 ms". */
export function formatSyncError(errorMs: number): string {
  const e = Math.abs(errorMs);
  return `±${e < 10 ? e.toFixed(1) : Math.round(e)} ms`;
}

/**
 * Whole seconds until the next reconnect attempt. `nextTryMs` is read as a delay from
 * when the event arrived; a value that looks like a wall-clock time (after 2001) is
 * read as the moment of the next try instead.
 */
export function reconnectInSeconds(nextTryMs: number, receivedAt: number, now: number): number {
  const due = nextTryMs > 1e12 ? nextTryMs : receivedAt + nextTryMs;
  return Math.max(0, Math.ceil((due - now) / 1000));
}

export function bannerText(conn: Connection, receivedAt: number, now: number): string | null {
  switch (conn.state) {
    case "connected":
      return null;
    case "connecting":
      return "Connecting…";
    case "reconnecting": {
      const s = reconnectInSeconds(conn.nextTryMs, receivedAt, now);
      return s > 0 ? `Reconnecting… next try in ${s} s` : "Reconnecting…";
    }
    case "offline":
      return `Offline: ${conn.reason || "connection lost"}`;
  }
  return null;
}

/** Buffering of the current track as 0..1, or null when the total size is unknown. */
export function bufferFraction(b: Buffering): number | null {
  if (b.total === null || b.total <= 0) return null;
  return Math.min(1, Math.max(0, b.bytes / b.total));
}

export function bufferDone(b: Buffering): boolean {
  return b.total !== null && b.bytes >= b.total;
}

export function typingText(people: Person[], me: string): string | null {
  const names = people.filter((p) => p.typing && p.id !== me).map((p) => p.name);
  if (names.length === 0) return null;
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}

export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0], words[words.length - 1]] : [words[0] ?? "?"];
  return letters.map((w) => Array.from(w ?? "?")[0] ?? "?").join("").toUpperCase();
}

export function isImageRef(avatar: string): boolean {
  return /^(https?:|data:image\/|asset:|blob:)/i.test(avatar);
}

export function isHost(view: RoomView): boolean {
  return view.role === "host";
}

export function baseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}

/**
 * The 0-based index a dragged item ends at: `mids` are the vertical midpoints of the
 * list's items in order, `y` the pointer, `from` the dragged item's index.
 */
export function dropTarget(mids: number[], y: number, from: number): number {
  const slot = mids.filter((m) => m < y).length;
  return slot > from ? slot - 1 : slot;
}

/** Where the embedded hub listens when other computers may join: every interface, a fixed port. */
export const DEFAULT_LISTEN = "0.0.0.0:7667";

/** Settings as they may be saved, or the reason they may not. */
export function validateSettings(draft: Settings): string | null {
  if (!draft.displayName.trim()) return "Enter a display name.";
  if (!Number.isFinite(draft.offsetMs)) return "The latency offset must be a number of milliseconds.";
  if (draft.relay && !/^(wss?|https?):\/\/\S+$/i.test(draft.relay.url.trim())) {
    return "Enter the relay's URL (ws://, wss://, http:// or https://).";
  }
  if (draft.listen !== null && !/^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:.]+\]):\d{1,5}$/i.test(draft.listen.trim())) {
    return "Enter the listen address as an IP address and port, like 0.0.0.0:7667.";
  }
  if (draft.tunnel !== null && draft.tunnel.trim() !== "public" && !/^https?:\/\/[^/\s]+\/?$/i.test(draft.tunnel.trim())) {
    return "Enter the relay server as public, or its http:// or https:// address, like http://relay.example.org:3340.";
  }
  if (draft.publicUrl !== null && draft.publicUrl.trim() !== "" && !/^wss?:\/\/[^/\s]+\/?$/i.test(draft.publicUrl.trim())) {
    return "Enter the public address as ws:// or wss:// and a host, with no path, like wss://music.example.org.";
  }
  return null;
}
