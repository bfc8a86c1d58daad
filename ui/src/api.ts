// Runs a Request against the generated bindings and answers with a `responded` action.
// Never throws and never hangs: a thrown error or a silent backend becomes an AppError.
import { commands, type AppError } from "./bindings";
import { responded, type Result, type Cmd, type Replies, type Request, type RequestOf, type Responded } from "./requests";

/** Longer for calls that read files or reach other machines. */
const SLOW: ReadonlySet<Cmd> = new Set<Cmd>(["hostRoom", "joinRoom", "addTracks", "leaveRoom"]);
export const TIMEOUT_MS = 20_000;
export const SLOW_TIMEOUT_MS = 60_000;

function fault(kind: AppError["kind"], message: string): Result<never, AppError> {
  return { status: "error", error: { kind, message } };
}

function describeThrown(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  if (/__TAURI_INTERNALS__|not a function|undefined/i.test(text)) {
    return "The WhatsSound app is not reachable (is this page running inside the desktop app?).";
  }
  return text || "Something went wrong.";
}

async function guard<T>(run: () => Promise<Result<T, AppError>>, timeoutMs: number): Promise<Result<T, AppError>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<Result<T, AppError>>((resolve) => {
    timer = setTimeout(() => resolve(fault("network", `No answer after ${Math.round(timeoutMs / 1000)} s.`)), timeoutMs);
  });
  try {
    return await Promise.race([run(), timeout]);
  } catch (e) {
    return fault("internal", describeThrown(e));
  } finally {
    clearTimeout(timer);
  }
}

function invoke<K extends Cmd>(req: RequestOf<K>, run: () => Promise<Result<Replies[K], AppError>>): Promise<Responded> {
  const ms = SLOW.has(req.cmd) ? SLOW_TIMEOUT_MS : TIMEOUT_MS;
  return guard(run, ms).then((result) => responded(req, result));
}

export function call(req: Request): Promise<Responded> {
  switch (req.cmd) {
    case "currentRoom": return invoke(req, () => commands.currentRoom());
    case "hostRoom": return invoke(req, () => commands.hostRoom(req.name, req.files));
    case "joinRoom": return invoke(req, () => commands.joinRoom(req.invite));
    case "leaveRoom": return invoke(req, () => commands.leaveRoom());
    case "newInvite": return invoke(req, () => commands.newInvite());
    case "addTracks": return invoke(req, () => commands.addTracks(req.paths));
    case "removeTrack": return invoke(req, () => commands.removeTrack(req.trackId));
    case "moveTrack": return invoke(req, () => commands.moveTrack(req.trackId, req.to));
    case "vote": return invoke(req, () => commands.vote(req.trackId, req.up));
    case "play": return invoke(req, () => commands.play());
    case "pause": return invoke(req, () => commands.pause());
    case "seek": return invoke(req, () => commands.seek(req.positionMs));
    case "skip": return invoke(req, () => commands.skip());
    case "sendChat": return invoke(req, () => commands.sendChat(req.text));
    case "react": return invoke(req, () => commands.react(req.emoji));
    case "setTyping": return invoke(req, () => commands.setTyping(req.typing));
    case "getSettings": return invoke(req, () => commands.getSettings());
    case "saveSettings": return invoke(req, () => commands.saveSettings(req.settings));
    case "outputDevices": return invoke(req, () => commands.outputDevices());
  }
}
