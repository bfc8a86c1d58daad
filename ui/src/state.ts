// The whole UI state and the one pure reducer that changes it: (state, action) → state.
// Backend events and command results both arrive here as actions.
import type { BufferingView as Buffering, ConnectionView as Connection, RoomEnded, RoomView, Settings, SyncView, Vote } from "./bindings";
import { errorText, type Request, type Responded } from "./requests";

export type Loadable<T> =
  | { state: "loading" }
  | { state: "error"; message: string; retry: Request }
  | { state: "ready"; data: T };

/** An action in flight: nothing yet, running, or failed (with what to run again). */
export type Op = { state: "idle" } | { state: "loading" } | { state: "error"; message: string; retry: Request | null };

export type Floating = { id: number; emoji: string; from: string; atMs: number };
export type Notice = { message: string; retry: Request | null };
export type SettingsDialog = { draft: Settings | null; save: Op; invalid: string | null };

export type AppState = {
  /** The room this app is in; `ready(null)` is the start screen. */
  room: Loadable<RoomView | null>;
  ended: RoomEnded | null;
  start: { kind: "host" | "join"; op: Op } | null;
  hostFiles: string[];
  leave: Op;
  invite: Op;
  adding: Op;
  notice: Notice | null;
  connection: { conn: Connection; receivedAt: number } | null;
  sync: SyncView | null;
  buffering: Buffering | null;
  reactions: Floating[];
  nextId: number;
  settings: Loadable<Settings>;
  devices: Loadable<string[]>;
  dialog: SettingsDialog | null;
  seekDraft: number | null;
  reorder: { trackId: string; to: number } | null;
  dropHover: boolean;
  copied: boolean;
  coverFailed: string | null;
  /** My vote on a track before a vote still in flight, to put back if the room refuses it. */
  votesBefore: Record<string, Vote | null>;
};

export type Action =
  | { type: "requested"; req: Request }
  | Responded
  | { type: "roomChanged"; view: RoomView }
  | { type: "connectionChanged"; conn: Connection; now: number }
  | { type: "syncChanged"; sync: SyncView }
  | { type: "bufferingChanged"; buffering: Buffering }
  | { type: "reactionReceived"; emoji: string; from: string; now: number }
  | { type: "roomEnded"; reason: string }
  | { type: "tick"; now: number }
  | { type: "backToStart" }
  | { type: "hostFilesPicked"; paths: string[] }
  | { type: "hostFilesCleared" }
  | { type: "startInvalid"; kind: "host" | "join"; message: string }
  | { type: "dismissNotice" }
  | { type: "fail"; message: string }
  | { type: "openSettings" }
  | { type: "closeSettings" }
  | { type: "settingsEdited"; patch: Partial<Settings> }
  | { type: "settingsInvalid"; message: string }
  | { type: "seekDraft"; positionMs: number | null }
  | { type: "reorderHover"; trackId: string; to: number }
  | { type: "reorderEnd" }
  | { type: "dropHover"; over: boolean }
  | { type: "copied"; ok: boolean }
  | { type: "copiedReset" }
  | { type: "coverFailed"; url: string };

/** How long a floating reaction stays on screen. */
export const REACTION_MS = 3000;
const MAX_REACTIONS = 24;
const IDLE: Op = { state: "idle" };

/** Everything that belongs to one room, as it is before (or after) being in one. */
function roomless() {
  return {
    ended: null,
    leave: IDLE,
    invite: IDLE,
    adding: IDLE,
    notice: null,
    connection: null,
    sync: null,
    buffering: null,
    reactions: [],
    seekDraft: null,
    reorder: null,
    dropHover: false,
    copied: false,
    votesBefore: {},
  } satisfies Partial<AppState>;
}

export function initialState(): AppState {
  return {
    ...roomless(),
    room: { state: "loading" },
    start: null,
    hostFiles: [],
    nextId: 1,
    settings: { state: "loading" },
    devices: { state: "loading" },
    dialog: null,
    coverFailed: null,
  };
}

/** The view of the room we are in, if any. */
export function currentView(s: AppState): RoomView | null {
  return s.room.state === "ready" ? s.room.data : null;
}

/** Back to the start screen, forgetting everything about the room. */
function outOfRoom(s: AppState): AppState {
  return { ...s, ...roomless(), room: { state: "ready", data: null } };
}

function enterRoom(s: AppState, view: RoomView): AppState {
  const ended = view.closed ? (s.ended ?? { reason: "The host closed the room." }) : s.ended;
  return { ...s, room: { state: "ready", data: view }, ended };
}

function mapView(s: AppState, f: (v: RoomView) => RoomView): AppState {
  const view = currentView(s);
  return view ? { ...s, room: { state: "ready", data: f(view) } } : s;
}

/** My vote on a track set to `to`, with both tallies moved to match (the room keeps one vote per
 *  member and track: a vote can be turned round, not taken back). */
function setVote(view: RoomView, trackId: string, to: Vote | null): RoomView {
  const queue = view.queue.map((q) => {
    if (q.id !== trackId || q.myVote === to) return q;
    const up = q.votes + (to === "up" ? 1 : 0) - (q.myVote === "up" ? 1 : 0);
    const down = q.downVotes + (to === "down" ? 1 : 0) - (q.myVote === "down" ? 1 : 0);
    return { ...q, myVote: to, votes: Math.max(0, up), downVotes: Math.max(0, down) };
  });
  return { ...view, queue };
}

function requested(s: AppState, req: Request): AppState {
  switch (req.cmd) {
    case "currentRoom":
      return { ...s, room: { state: "loading" } };
    case "hostRoom":
    case "joinRoom":
      return { ...s, ended: null, start: { kind: req.cmd === "hostRoom" ? "host" : "join", op: { state: "loading" } } };
    case "leaveRoom":
      return { ...s, leave: { state: "loading" } };
    case "newInvite":
      return { ...s, invite: { state: "loading" } };
    case "addTracks":
      return { ...s, adding: { state: "loading" } };
    case "vote": {
      const entry = currentView(s)?.queue.find((q) => q.id === req.trackId);
      const to: Vote = req.up ? "up" : "down";
      if (!entry || entry.myVote === to) return s;
      return { ...mapView(s, (v) => setVote(v, req.trackId, to)), votesBefore: { ...s.votesBefore, [req.trackId]: entry.myVote } };
    }
    case "seek":
      return { ...s, seekDraft: req.positionMs };
    case "getSettings":
      return { ...s, settings: { state: "loading" } };
    case "outputDevices":
      return { ...s, devices: { state: "loading" } };
    case "saveSettings":
      return s.dialog ? { ...s, dialog: { ...s.dialog, save: { state: "loading" }, invalid: null } } : s;
    default:
      return s;
  }
}

function answered(s: AppState, a: Responded): AppState {
  if (a.result.status === "error") {
    const message = errorText(a.result.error);
    const failed: Op = { state: "error", message, retry: a.req };
    switch (a.cmd) {
      case "currentRoom":
        return { ...s, room: { state: "error", message, retry: a.req } };
      case "hostRoom":
      case "joinRoom":
        return { ...s, start: { kind: a.cmd === "hostRoom" ? "host" : "join", op: failed } };
      case "leaveRoom":
        // Not in a room any more is what leaving wanted.
        return a.result.error.kind === "notInRoom" ? outOfRoom(s) : { ...s, leave: IDLE, notice: { message, retry: a.req } };
      case "newInvite":
        return { ...s, invite: failed };
      case "getSettings":
        return { ...s, settings: { state: "error", message, retry: a.req } };
      case "outputDevices":
        return { ...s, devices: { state: "error", message, retry: a.req } };
      case "saveSettings":
        return s.dialog ? { ...s, dialog: { ...s.dialog, save: failed } } : s;
      case "setTyping":
        return s; // a lost typing hint is not worth a message
      case "vote": {
        const before = s.votesBefore[a.req.trackId];
        const reverted = before === undefined ? s : mapView(s, (v) => setVote(v, a.req.trackId, before));
        const votesBefore = Object.fromEntries(Object.entries(s.votesBefore).filter(([id]) => id !== a.req.trackId));
        return { ...reverted, votesBefore, notice: { message, retry: a.req } };
      }
      case "seek":
        return { ...s, seekDraft: null, notice: { message, retry: a.req } };
      case "addTracks":
        return { ...s, adding: IDLE, notice: { message, retry: a.req } };
      default:
        return { ...s, notice: { message, retry: a.req } };
    }
  }
  switch (a.cmd) {
    case "currentRoom": {
      if (s.room.state === "ready") return s; // an event already told us more recently
      const view = a.result.data;
      return view ? enterRoom(s, view) : outOfRoom(s);
    }
    case "hostRoom":
    case "joinRoom":
      return { ...enterRoom(s, a.result.data), start: null, hostFiles: [] };
    case "leaveRoom":
      return outOfRoom(s);
    case "newInvite": {
      const invite = a.result.data;
      return { ...mapView(s, (v) => ({ ...v, invite })), invite: IDLE, copied: false };
    }
    case "addTracks":
      return { ...s, adding: IDLE };
    case "seek":
      return { ...s, seekDraft: null };
    case "getSettings": {
      const data = a.result.data;
      const dialog = s.dialog && !s.dialog.draft ? { ...s.dialog, draft: data } : s.dialog;
      return { ...s, settings: { state: "ready", data }, dialog };
    }
    case "saveSettings":
      return { ...s, settings: { state: "ready", data: a.result.data }, dialog: null };
    case "outputDevices":
      return { ...s, devices: { state: "ready", data: a.result.data } };
    default:
      return s;
  }
}

export function reduce(s: AppState, a: Action): AppState {
  switch (a.type) {
    case "requested":
      return requested(s, a.req);
    case "responded":
      return answered(s, a);
    case "roomChanged":
      if (s.leave.state === "loading") return s; // on our way out
      return { ...enterRoom(s, a.view), start: null };
    case "connectionChanged":
      return { ...s, connection: { conn: a.conn, receivedAt: a.now } };
    case "syncChanged":
      return { ...s, sync: a.sync };
    case "bufferingChanged":
      return { ...s, buffering: a.buffering };
    case "reactionReceived": {
      const r: Floating = { id: s.nextId, emoji: a.emoji, from: a.from, atMs: a.now };
      return { ...s, reactions: [...s.reactions, r].slice(-MAX_REACTIONS), nextId: s.nextId + 1 };
    }
    case "roomEnded":
      return { ...s, ended: { reason: a.reason } };
    case "tick": {
      const reactions = s.reactions.filter((r) => a.now - r.atMs < REACTION_MS);
      return reactions.length === s.reactions.length ? s : { ...s, reactions };
    }
    case "backToStart":
      return outOfRoom(s);
    case "hostFilesPicked":
      return { ...s, hostFiles: [...new Set([...s.hostFiles, ...a.paths])] };
    case "hostFilesCleared":
      return { ...s, hostFiles: [] };
    case "startInvalid":
      return { ...s, start: { kind: a.kind, op: { state: "error", message: a.message, retry: null } } };
    case "dismissNotice":
      return { ...s, notice: null };
    case "fail":
      return { ...s, notice: { message: a.message, retry: null } };
    case "openSettings": {
      const draft = s.settings.state === "ready" ? s.settings.data : null;
      return { ...s, dialog: { draft, save: IDLE, invalid: null } };
    }
    case "closeSettings":
      return { ...s, dialog: null };
    case "settingsEdited":
      return s.dialog?.draft ? { ...s, dialog: { ...s.dialog, draft: { ...s.dialog.draft, ...a.patch }, invalid: null } } : s;
    case "settingsInvalid":
      return s.dialog ? { ...s, dialog: { ...s.dialog, invalid: a.message } } : s;
    case "seekDraft":
      return { ...s, seekDraft: a.positionMs };
    case "reorderHover":
      return { ...s, reorder: { trackId: a.trackId, to: a.to } };
    case "reorderEnd":
      return { ...s, reorder: null };
    case "dropHover":
      return { ...s, dropHover: a.over };
    case "copied":
      return a.ok ? { ...s, copied: true } : { ...s, notice: { message: "Could not copy. Select the invite and copy it by hand.", retry: null } };
    case "copiedReset":
      return { ...s, copied: false };
    case "coverFailed":
      return { ...s, coverFailed: a.url };
  }
}

/** Whether the clock matters to what is on screen (progress, countdown, reactions). */
export function needsTick(s: AppState): boolean {
  const view = currentView(s);
  return (
    s.reactions.length > 0 ||
    (view?.nowPlaying?.playing ?? false) ||
    s.connection?.conn.state === "reconnecting"
  );
}
