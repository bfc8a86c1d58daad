// Every backend call the UI makes, as plain data: the reducer can record one as the
// thing to retry, and a view can put it on a Retry button.
import type { AppError, RoomView, Settings } from "./bindings";

/** What a command answers (the shape tauri-specta's generated commands return). */
export type Result<T, E> = { status: "ok"; data: T } | { status: "error"; error: E };

export type Request =
  | { cmd: "currentRoom" }
  | { cmd: "hostRoom"; name: string; files: string[] }
  | { cmd: "joinRoom"; invite: string }
  | { cmd: "leaveRoom" }
  | { cmd: "newInvite" }
  | { cmd: "addTracks"; paths: string[] }
  | { cmd: "removeTrack"; trackId: string }
  | { cmd: "moveTrack"; trackId: string; to: number }
  | { cmd: "vote"; trackId: string; up: boolean }
  | { cmd: "play" }
  | { cmd: "pause" }
  | { cmd: "seek"; positionMs: number }
  | { cmd: "skip" }
  | { cmd: "sendChat"; text: string }
  | { cmd: "react"; emoji: string }
  | { cmd: "setTyping"; typing: boolean }
  | { cmd: "getSettings" }
  | { cmd: "saveSettings"; settings: Settings }
  | { cmd: "outputDevices" };

export type Cmd = Request["cmd"];

/** What each command answers when it succeeds. */
export type Replies = {
  currentRoom: RoomView | null;
  hostRoom: RoomView;
  joinRoom: RoomView;
  leaveRoom: null;
  newInvite: string;
  addTracks: null;
  removeTrack: null;
  moveTrack: null;
  vote: null;
  play: null;
  pause: null;
  seek: null;
  skip: null;
  sendChat: null;
  react: null;
  setTyping: null;
  getSettings: Settings;
  saveSettings: Settings;
  outputDevices: string[];
};

export type RequestOf<K extends Cmd> = Extract<Request, { cmd: K }>;

/** A command's answer, tagged with the request it answers. */
export type Responded = {
  [K in Cmd]: { type: "responded"; cmd: K; req: RequestOf<K>; result: Result<Replies[K], AppError> };
}[Cmd];

export function responded<K extends Cmd>(req: RequestOf<K>, result: Result<Replies[K], AppError>): Responded {
  // The mapped union cannot be indexed by a generic K; this is the one place that says it is sound.
  return { type: "responded", cmd: req.cmd, req, result } as Responded;
}

export function encodeRequest(req: Request): string {
  return JSON.stringify(req);
}

export function decodeRequest(text: string | null | undefined): Request | null {
  if (!text) return null;
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === "object" && typeof (value as { cmd?: unknown }).cmd === "string") {
      return value as Request;
    }
  } catch {
    // fall through
  }
  return null;
}

const KIND_TEXT: Record<AppError["kind"], string> = {
  badInput: "That was not accepted.",
  notInRoom: "You are not in a room.",
  notAllowed: "Only the host can do that.",
  network: "Network problem.",
  audio: "Audio problem.",
  storage: "Could not read or write a file.",
  internal: "Something went wrong.",
};

/** A sentence a person can read, whatever the backend sent. */
export function errorText(error: AppError | null | undefined): string {
  if (!error) return KIND_TEXT.internal;
  const message = typeof error.message === "string" ? error.message.trim() : "";
  return message || KIND_TEXT[error.kind] || KIND_TEXT.internal;
}
