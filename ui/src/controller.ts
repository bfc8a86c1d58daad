// Turns what a person does in the DOM (clicks, forms, typing, dragging) into actions and
// requests. Views stay pure: they only mark elements with data-action / data-form / data-field.
import type { Settings } from "./bindings";
import { DEFAULT_LISTEN, dropTarget, validateSettings } from "./derive";
import { decodeRequest, type Request, type Responded } from "./requests";
import { currentView, type Action, type AppState } from "./state";
import { TypingTracker } from "./typing";

export type Deps = {
  getState(): AppState;
  dispatch(action: Action): void;
  /** Run a request, recording it and its answer in the state. */
  run(req: Request): Promise<Responded>;
  /** Run a request whose answer nobody needs to see. */
  fire(req: Request): void;
  pickFiles(): Promise<string[] | null>;
  copy(text: string): Promise<void>;
};

type Drag = { trackId: string; from: number; startY: number; to: number; moved: boolean };

const COPIED_MS = 2000;

export class Controller {
  readonly typing: TypingTracker;
  private drag: Drag | null = null;
  private focusAfterRender: string | null = null;

  constructor(private readonly root: HTMLElement, private readonly deps: Deps) {
    this.typing = new TypingTracker((typing) => deps.fire({ cmd: "setTyping", typing }));
    root.addEventListener("click", (e) => void this.onClick(e));
    root.addEventListener("submit", (e) => this.onSubmit(e));
    root.addEventListener("input", (e) => this.onInput(e));
    root.addEventListener("change", (e) => this.onChange(e));
    root.addEventListener("keydown", (e) => this.onKeyDown(e));
    root.addEventListener("pointerdown", (e) => this.onPointerDown(e));
    root.addEventListener("pointermove", (e) => this.onPointerMove(e));
    root.addEventListener("pointerup", () => this.onPointerUp());
    root.addEventListener("pointercancel", () => this.endDrag());
    root.addEventListener("error", (e) => this.onError(e), true);
  }

  /** Called after each render: put focus back where a re-order moved it from. */
  afterRender(): void {
    if (!this.focusAfterRender) return;
    const el = this.root.querySelector<HTMLElement>(this.focusAfterRender);
    if (el && document.activeElement !== el) el.focus();
    this.focusAfterRender = null;
  }

  private async onClick(e: Event): Promise<void> {
    const el = (e.target as Element | null)?.closest<HTMLElement>("[data-action]");
    if (!el || !this.root.contains(el)) return;
    const { deps } = this;
    const state = deps.getState();
    const view = currentView(state);
    const trackId = el.dataset.trackId ?? "";
    switch (el.dataset.action) {
      case "retry": {
        const req = decodeRequest(el.dataset.retry);
        if (req) void deps.run(req);
        return;
      }
      case "host-files": {
        const paths = await deps.pickFiles();
        if (paths?.length) deps.dispatch({ type: "hostFilesPicked", paths });
        return;
      }
      case "host-files-clear":
        return deps.dispatch({ type: "hostFilesCleared" });
      case "add-files": {
        const paths = await deps.pickFiles();
        if (paths?.length) void deps.run({ cmd: "addTracks", paths });
        return;
      }
      case "copy-invite": {
        if (!view?.invite) return;
        const ok = await deps.copy(view.invite).then(() => true, () => false);
        deps.dispatch({ type: "copied", ok });
        if (ok) setTimeout(() => deps.dispatch({ type: "copiedReset" }), COPIED_MS);
        return;
      }
      case "new-invite":
        return void deps.run({ cmd: "newInvite" });
      case "leave":
        this.typing.stop();
        return void deps.run({ cmd: "leaveRoom" });
      case "back-to-start":
        deps.dispatch({ type: "backToStart" });
        deps.fire({ cmd: "leaveRoom" }); // make sure nothing keeps reconnecting
        return;
      case "play-pause":
        return this.togglePlay();
      case "skip":
        return void deps.run({ cmd: "skip" });
      case "vote":
        return void deps.run({ cmd: "vote", trackId, up: el.dataset.up === "true" });
      case "remove":
        return void deps.run({ cmd: "removeTrack", trackId });
      case "react":
        return void deps.run({ cmd: "react", emoji: el.dataset.emoji ?? "👍" });
      case "settings-open":
        return this.openSettings();
      case "settings-close":
        return deps.dispatch({ type: "closeSettings" });
      case "backdrop":
        if (e.target === el) deps.dispatch({ type: "closeSettings" });
        return;
      case "dismiss-notice":
        return deps.dispatch({ type: "dismissNotice" });
    }
  }

  togglePlay(): void {
    const np = currentView(this.deps.getState())?.nowPlaying;
    void this.deps.run({ cmd: np?.playing ? "pause" : "play" });
  }

  openSettings(): void {
    const s = this.deps.getState();
    this.deps.dispatch({ type: "openSettings" });
    if (s.settings.state === "error") void this.deps.run({ cmd: "getSettings" });
    void this.deps.run({ cmd: "outputDevices" });
  }

  focusChat(): void {
    this.root.querySelector<HTMLInputElement>("[data-testid=chat-input]")?.focus();
  }

  private onSubmit(e: Event): void {
    const form = e.target as HTMLFormElement;
    const kind = form.dataset.form;
    if (!kind) return;
    e.preventDefault();
    const { deps } = this;
    const field = (name: string) => form.elements.namedItem(name) as HTMLInputElement | null;
    switch (kind) {
      case "host": {
        const input = field("name");
        const name = input?.value.trim() || input?.placeholder || "Listening party";
        return void deps.run({ cmd: "hostRoom", name, files: deps.getState().hostFiles });
      }
      case "join": {
        const input = field("invite");
        const invite = input?.value.trim() ?? "";
        if (!invite) {
          deps.dispatch({ type: "startInvalid", kind: "join", message: "Paste an invite first." });
          return input?.focus();
        }
        return void deps.run({ cmd: "joinRoom", invite });
      }
      case "chat": {
        const input = field("text");
        const text = input?.value.trim() ?? "";
        if (!input || !text) return;
        input.value = "";
        this.typing.stop();
        return void deps.run({ cmd: "sendChat", text });
      }
      case "settings":
        return this.saveSettings();
    }
  }

  private saveSettings(): void {
    const draft = this.deps.getState().dialog?.draft;
    if (!draft) return;
    const settings: Settings = {
      ...draft,
      displayName: draft.displayName.trim(),
      avatar: draft.avatar?.trim() || null,
      relay: draft.relay ? { url: draft.relay.url.trim(), key: draft.relay.key } : null,
      listen: draft.listen?.trim() || (draft.listen === null ? null : DEFAULT_LISTEN),
      publicUrl: draft.publicUrl?.trim() || null,
      tunnel: draft.tunnel === null ? null : draft.tunnel.trim() || "public",
    };
    const invalid = validateSettings(settings);
    if (invalid) this.deps.dispatch({ type: "settingsInvalid", message: invalid });
    else void this.deps.run({ cmd: "saveSettings", settings });
  }

  private settingsPatch(el: HTMLInputElement | HTMLSelectElement): Partial<Settings> | null {
    const draft = this.deps.getState().dialog?.draft;
    if (!draft) return null;
    const v = el.value;
    const relay = draft.relay ?? { url: "", key: "" };
    switch (el.dataset.field) {
      case "displayName": return { displayName: v };
      case "avatar": return { avatar: v || null };
      case "outputDevice": return { outputDevice: v || null };
      case "volume": return { volume: Math.min(1, Math.max(0, Number(v) / 100)) };
      case "offsetMs": return v.trim() === "" || !Number.isFinite(Number(v)) ? null : { offsetMs: Math.round(Number(v)) };
      case "relayUrl": return { relay: { ...relay, url: v } };
      case "relayKey": return { relay: { ...relay, key: v } };
      case "where": return { relay: v === "relay" ? relay : null };
      case "share": return el instanceof HTMLInputElement && el.checked ? { listen: draft.listen ?? DEFAULT_LISTEN } : { listen: null, publicUrl: null };
      case "listen": return { listen: v };
      case "publicUrl": return { publicUrl: v || null };
      case "anywhere": return el instanceof HTMLInputElement && el.checked ? { tunnel: draft.tunnel ?? "public" } : { tunnel: null };
      case "tunnel": return { tunnel: v };
      default: return null;
    }
  }

  private onInput(e: Event): void {
    const el = e.target;
    if (!(el instanceof HTMLInputElement || el instanceof HTMLSelectElement)) return;
    if (el.dataset.testid === "chat-input") return this.typing.input(el.value);
    if (el.dataset.testid === "seek") return this.deps.dispatch({ type: "seekDraft", positionMs: Number(el.value) });
    const patch = el.dataset.field && el.type !== "radio" && el.type !== "checkbox" ? this.settingsPatch(el) : null;
    if (patch) this.deps.dispatch({ type: "settingsEdited", patch });
  }

  private onChange(e: Event): void {
    const el = e.target;
    if (!(el instanceof HTMLInputElement || el instanceof HTMLSelectElement)) return;
    if (el.dataset.testid === "seek") return void this.deps.run({ cmd: "seek", positionMs: Math.round(Number(el.value)) });
    if (el instanceof HTMLSelectElement || el.type === "radio" || el.type === "checkbox") {
      const patch = this.settingsPatch(el);
      if (patch) this.deps.dispatch({ type: "settingsEdited", patch });
    }
  }

  /** Arrow keys on a queue item's handle move it one place. */
  private onKeyDown(e: KeyboardEvent): void {
    const el = e.target as HTMLElement | null;
    if (el?.dataset.action !== "reorder" || (e.key !== "ArrowUp" && e.key !== "ArrowDown")) return;
    e.preventDefault();
    const from = Number(el.dataset.index);
    const count = currentView(this.deps.getState())?.queue.length ?? 0;
    const to = from + (e.key === "ArrowUp" ? -1 : 1);
    if (to < 0 || to >= count || !el.dataset.trackId) return;
    this.focusAfterRender = `[data-action=reorder][data-track-id="${CSS.escape(el.dataset.trackId)}"]`;
    void this.deps.run({ cmd: "moveTrack", trackId: el.dataset.trackId, to });
  }

  private onPointerDown(e: PointerEvent): void {
    const el = (e.target as Element | null)?.closest<HTMLElement>("[data-action=reorder]");
    if (!el?.dataset.trackId || e.button !== 0) return;
    const from = Number(el.dataset.index);
    this.drag = { trackId: el.dataset.trackId, from, startY: e.clientY, to: from, moved: false };
    try {
      el.setPointerCapture(e.pointerId);
    } catch {
      // no active pointer (synthetic events): dragging still works while over the handle
    }
  }

  private onPointerMove(e: PointerEvent): void {
    const d = this.drag;
    if (!d) return;
    if (!d.moved && Math.abs(e.clientY - d.startY) < 4) return;
    d.moved = true;
    const items = Array.from(this.root.querySelectorAll<HTMLElement>("[data-testid=queue-item]"));
    const mids = items.map((it) => {
      const r = it.getBoundingClientRect();
      return r.top + r.height / 2;
    });
    const to = dropTarget(mids, e.clientY, d.from);
    if (to !== d.to || !this.deps.getState().reorder) {
      d.to = to;
      this.deps.dispatch({ type: "reorderHover", trackId: d.trackId, to });
    }
  }

  private onPointerUp(): void {
    const d = this.drag;
    if (d?.moved && d.to !== d.from) void this.deps.run({ cmd: "moveTrack", trackId: d.trackId, to: d.to });
    this.endDrag();
  }

  private endDrag(): void {
    this.drag = null;
    if (this.deps.getState().reorder) this.deps.dispatch({ type: "reorderEnd" });
  }

  private onError(e: Event): void {
    const el = e.target;
    if (el instanceof HTMLImageElement && el.dataset.cover) this.deps.dispatch({ type: "coverFailed", url: el.dataset.cover });
  }
}
