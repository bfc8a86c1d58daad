// Every backend call the UI makes, as plain data: the reducer can record one as the
// thing to retry, and a view can put it on a Retry button. Which commands exist and what each
// answers come from the generated bindings (`typeof commands`), so a command added, renamed or
// changed in Rust fails the type check here until the UI says how to call it.
import type { AppError, Settings, commands } from "./bindings";

/** What a command answers (the shape tauri-specta's generated commands return). */
export type Result<T, E> = { status: "ok"; data: T } | { status: "error"; error: E };

type Commands = typeof commands;

/** The backend's commands, by their binding names. */
export type Cmd = keyof Commands;

/** What each command answers when it succeeds. */
export type Replies = {
  [K in Cmd]: Awaited<ReturnType<Commands[K]>> extends Result<infer T, AppError> ? T : never;
};

/** Each command's arguments by name (the bindings only give their order): `{}` for none. */
type Named = {
  hostRoom: { name: string; files: string[] };
  joinRoom: { invite: string };
  addTracks: { paths: string[] };
  removeTrack: { trackId: string };
  moveTrack: { trackId: string; to: number };
  vote: { trackId: string; up: boolean };
  seek: { positionMs: number };
  sendChat: { text: string };
  react: { emoji: string };
  setTyping: { typing: boolean };
  saveSettings: { settings: Settings };
};

/** A call as data: the command's name and its arguments by name. */
export type Request = { [K in Cmd]: { cmd: K } & (K extends keyof Named ? Named[K] : Record<never, never>) }[Cmd];

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
