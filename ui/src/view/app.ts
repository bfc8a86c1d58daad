// The top of the view tree: which screen, plus the settings dialog over it.
import { h } from "../dom";
import { currentView, type AppState } from "../state";
import { errorBlock, loadingBlock } from "./common";
import { roomScreen } from "./room";
import { settingsDialog } from "./settings";
import { endedScreen, startScreen } from "./start";

function screen(s: AppState, now: number): HTMLElement {
  if (s.ended) return endedScreen(s.ended.reason);
  switch (s.room.state) {
    case "loading":
      return h("main", { class: "boot", "data-key": "boot" }, loadingBlock("WhatsSound"));
    case "error":
      return h("main", { class: "boot", "data-key": "boot" }, errorBlock(s.room.message, s.room.retry));
    case "ready": {
      const view = currentView(s);
      return view ? roomScreen(s, view, now) : startScreen(s);
    }
  }
}

/** Render the whole state; `now` (ms since the epoch) drives progress and countdowns. */
export function renderApp(s: AppState, now: number): HTMLElement {
  return h("div", { id: "app", class: "app" }, screen(s, now), settingsDialog(s));
}
