// Wires the pure parts together: backend events and command results go through the
// reducer; every change re-renders the view into #app.
import { open } from "@tauri-apps/plugin-dialog";
import { getCurrentWebview } from "@tauri-apps/api/webview";
import { call } from "./api";
import { events, type AppError } from "./bindings";
import type { Result } from "./requests";
import { Controller } from "./controller";
import { morph } from "./dom";
import { shortcutFor } from "./keyboard";
import type { Request, Responded } from "./requests";
import { currentView, initialState, needsTick, reduce, type Action, type AppState } from "./state";
import { renderApp } from "./view/app";

// What the core's symphonia is built to decode (Cargo.toml: mp3, flac, vorbis in ogg, wav/pcm, aac
// in mp4/m4a or ADTS); offering Opus, AIFF, WMA or Matroska would only meet an "unplayable" later.
const AUDIO_EXTENSIONS = ["mp3", "flac", "ogg", "oga", "wav", "m4a", "mp4", "aac"];
const TICK_MS = 250;

declare global {
  interface Window {
    /** For end-to-end tests: add tracks without the native file dialog. */
    __whatssound?: { addTracks(paths: string[]): Promise<Result<null, AppError>>; state(): AppState };
  }
}

const root = document.getElementById("app") as HTMLElement;
let state = initialState();
let scheduled = false;
let dialogWasOpen = false;

function dispatch(action: Action): void {
  state = reduce(state, action);
  if (!scheduled) {
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      render();
    });
  }
}

async function run(req: Request): Promise<Responded> {
  dispatch({ type: "requested", req });
  const answer = await call(req);
  dispatch(answer);
  return answer;
}

const controller = new Controller(root, {
  getState: () => state,
  dispatch,
  run,
  fire: (req) => void call(req),
  pickFiles: async () => {
    try {
      const picked = await open({ multiple: true, directory: false, title: "Choose audio files", filters: [{ name: "Audio", extensions: AUDIO_EXTENSIONS }] });
      return picked ?? null;
    } catch (e) {
      dispatch({ type: "fail", message: `Could not open the file picker: ${e instanceof Error ? e.message : String(e)}` });
      return null;
    }
  },
  copy: (text) => navigator.clipboard.writeText(text),
});

function render(): void {
  const log = root.querySelector<HTMLElement>("[data-testid=chat-log]");
  const lines = log?.childElementCount ?? -1;
  const atBottom = !log || log.scrollHeight - log.scrollTop - log.clientHeight < 48;

  morph(root, renderApp(state, Date.now()));

  // Follow the chat while the reader is at the bottom.
  const after = root.querySelector<HTMLElement>("[data-testid=chat-log]");
  if (after && (after !== log || (after.childElementCount !== lines && atBottom))) after.scrollTop = after.scrollHeight;

  // Move focus into the dialog when it opens and back to its button when it closes.
  const dialogOpen = state.dialog !== null;
  if (dialogOpen && !dialogWasOpen) (root.querySelector<HTMLElement>(".dialog input") ?? root.querySelector<HTMLElement>(".dialog button"))?.focus();
  if (!dialogOpen && dialogWasOpen) root.querySelector<HTMLElement>("[data-testid=settings-open]")?.focus();
  dialogWasOpen = dialogOpen;

  controller.afterRender();
}

/** Keep Tab inside the open dialog. */
function trapFocus(e: KeyboardEvent): void {
  const dialog = root.querySelector<HTMLElement>(".dialog");
  if (!dialog) return;
  const focusable = Array.from(dialog.querySelectorAll<HTMLElement>("button, input, select, [tabindex]")).filter((el) => !el.hasAttribute("disabled"));
  const first = focusable[0];
  const last = focusable[focusable.length - 1];
  if (!first || !last) return;
  const inside = dialog.contains(document.activeElement);
  if (e.shiftKey && (document.activeElement === first || !inside)) {
    e.preventDefault();
    last.focus();
  } else if (!e.shiftKey && (document.activeElement === last || !inside)) {
    e.preventDefault();
    first.focus();
  }
}

document.addEventListener("keydown", (e) => {
  if (e.key === "Tab" && state.dialog) return trapFocus(e);
  const view = currentView(state);
  const shortcut = shortcutFor(e, {
    dialogOpen: state.dialog !== null,
    canControl: view?.role === "host" && !state.ended,
    inRoom: view !== null && !state.ended,
  });
  if (!shortcut) return;
  e.preventDefault();
  if (shortcut === "togglePlay") controller.togglePlay();
  else if (shortcut === "focusChat") controller.focusChat();
  else dispatch({ type: "closeSettings" });
});

/** Start a subscription; a synchronous throw (outside the app) becomes a rejection. */
function attempt(subscribe: () => Promise<unknown>): Promise<unknown> {
  try {
    return subscribe();
  } catch (e) {
    return Promise.reject(e);
  }
}

async function listen(): Promise<void> {
  const subscriptions = [
    () => events.roomChanged.listen((e) => dispatch({ type: "roomChanged", view: e.payload })),
    () => events.connectionChanged.listen((e) => dispatch({ type: "connectionChanged", conn: e.payload, now: Date.now() })),
    () => events.syncChanged.listen((e) => dispatch({ type: "syncChanged", sync: e.payload })),
    () => events.bufferingChanged.listen((e) => dispatch({ type: "bufferingChanged", buffering: e.payload })),
    () => events.reactionReceived.listen((e) => dispatch({ type: "reactionReceived", emoji: e.payload.emoji, from: e.payload.from, now: Date.now() })),
    () => events.roomEnded.listen((e) => dispatch({ type: "roomEnded", reason: e.payload.reason })),
    () => getCurrentWebview().onDragDropEvent((e) => {
      const p = e.payload;
      if (p.type === "enter") dispatch({ type: "dropHover", over: true });
      else if (p.type === "leave") dispatch({ type: "dropHover", over: false });
      else if (p.type === "drop") {
        dispatch({ type: "dropHover", over: false });
        if (p.paths.length === 0) return;
        if (currentView(state)) void run({ cmd: "addTracks", paths: p.paths });
        else if (state.room.state === "ready" && !state.ended) dispatch({ type: "hostFilesPicked", paths: p.paths });
      }
    }),
  ];
  // Outside the app (a plain browser) these fail; currentRoom then shows why, with Retry.
  await Promise.allSettled(subscriptions.map(attempt));
}

window.__whatssound = {
  addTracks: async (paths) => (await run({ cmd: "addTracks", paths })).result as Result<null, AppError>,
  state: () => state,
};

setInterval(() => {
  if (state.reactions.length > 0) dispatch({ type: "tick", now: Date.now() });
  else if (needsTick(state)) render();
}, TICK_MS);

render();
void listen().then(() => {
  void run({ cmd: "currentRoom" });
  void run({ cmd: "getSettings" });
});
