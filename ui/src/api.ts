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

/** Each command's arguments in the order the binding takes them. Checked both ways: a request's
 *  fields must make the binding's parameters, and every command must have an entry. */
const ARGS: { [K in Cmd]: (req: RequestOf<K>) => Parameters<(typeof commands)[K]> } = {
  currentRoom: () => [],
  hostRoom: (r) => [r.name, r.files],
  joinRoom: (r) => [r.invite],
  leaveRoom: () => [],
  newInvite: () => [],
  addTracks: (r) => [r.paths],
  removeTrack: (r) => [r.trackId],
  moveTrack: (r) => [r.trackId, r.to],
  vote: (r) => [r.trackId, r.up],
  play: () => [],
  pause: () => [],
  seek: (r) => [r.positionMs],
  skip: () => [],
  sendChat: (r) => [r.text],
  react: (r) => [r.emoji],
  setTyping: (r) => [r.typing],
  getSettings: () => [],
  saveSettings: (r) => [r.settings],
  outputDevices: () => [],
};

function callOne<K extends Cmd>(req: RequestOf<K>): Promise<Responded> {
  // TypeScript cannot follow K through the two lookups (a correlated union); ARGS's type is what
  // ties each command's arguments to its binding, so this widening is the one unchecked step.
  const args = ARGS[req.cmd] as (r: RequestOf<K>) => unknown[];
  const run = commands[req.cmd] as (...a: unknown[]) => Promise<Result<Replies[K], AppError>>;
  return invoke(req, () => run(...args(req)));
}

export function call(req: Request): Promise<Responded> {
  return callOne(req);
}
