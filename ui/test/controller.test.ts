import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Controller, type Deps } from "../src/controller";
import { shortcutFor } from "../src/keyboard";
import { responded, type Request } from "../src/requests";
import { reduce, type Action, type AppState } from "../src/state";
import { TypingTracker } from "../src/typing";
import { morph } from "../src/dom";
import { renderApp } from "../src/view/app";
import { inRoom, NOW, ok, run, settings } from "./fixtures";

function setup(initial: AppState) {
  let state = initial;
  const requests: Request[] = [];
  const fired: Request[] = [];
  const root = document.createElement("div");
  document.body.replaceChildren(root);
  const paint = () => morph(root, renderApp(state, NOW));
  root.appendChild(renderApp(state, NOW));
  const deps: Deps = {
    getState: () => state,
    dispatch: (a: Action) => {
      state = reduce(state, a);
      paint();
    },
    run: async (req) => {
      requests.push(req);
      deps.dispatch({ type: "requested", req });
      return responded(req as { cmd: "skip" }, { status: "ok", data: null });
    },
    fire: (req) => void fired.push(req),
    pickFiles: vi.fn(async () => ["/music/a.flac", "/music/b.mp3"]),
    copy: vi.fn(async () => undefined),
  };
  const controller = new Controller(root, deps);
  const click = (selector: string) => root.querySelector<HTMLElement>(selector)!.click();
  return { root, requests, fired, deps, controller, click, state: () => state };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

describe("controller", () => {
  it("turns clicks into requests", async () => {
    const t = setup(inRoom());
    t.click('[data-testid=vote][data-track-id="t2"]');
    t.click('[data-testid=remove][data-track-id="t1"]');
    t.click("[data-testid=play-pause]");
    t.click("[data-testid=skip]");
    t.click('[data-action=react][data-emoji="🔥"]');
    t.click("[data-testid=invite-new]");
    t.click("[data-testid=add-files]");
    await flush();
    expect(t.requests).toEqual([
      { cmd: "vote", trackId: "t2", up: true },
      { cmd: "removeTrack", trackId: "t1" },
      { cmd: "pause" },
      { cmd: "skip" },
      { cmd: "react", emoji: "🔥" },
      { cmd: "newInvite" },
      { cmd: "addTracks", paths: ["/music/a.flac", "/music/b.mp3"] },
    ]);
  });

  it("submits the host and join forms", async () => {
    const t = setup(run(ok({ cmd: "currentRoom" }, null)));
    t.click("[data-testid=host-files]");
    await flush();
    (t.root.querySelector("[data-testid=host-name]") as HTMLInputElement).value = "  Party  ";
    t.click("[data-testid=host-start]");
    expect(t.requests.at(-1)).toEqual({ cmd: "hostRoom", name: "Party", files: ["/music/a.flac", "/music/b.mp3"] });
    (t.root.querySelector("[data-testid=join-invite]") as HTMLInputElement).value = " whatssound://join?x ";
    t.click("[data-testid=join-start]");
    expect(t.requests.at(-1)).toEqual({ cmd: "joinRoom", invite: "whatssound://join?x" });
  });

  it("sends chat, clears the box and says typing stopped", () => {
    const t = setup(inRoom());
    const input = t.root.querySelector("[data-testid=chat-input]") as HTMLInputElement;
    input.value = "hey";
    input.dispatchEvent(new Event("input", { bubbles: true }));
    t.click("[data-testid=chat-send]");
    expect(t.requests).toEqual([{ cmd: "sendChat", text: "hey" }]);
    expect(input.value).toBe("");
    expect(t.fired).toEqual([{ cmd: "setTyping", typing: true }, { cmd: "setTyping", typing: false }]);
  });

  it("copies the invite and says so", async () => {
    const t = setup(inRoom());
    t.click("[data-testid=invite-copy]");
    await flush();
    expect(t.deps.copy).toHaveBeenCalledWith(expect.stringContaining("whatssound://join"));
    expect(t.root.querySelector("[data-testid=invite-copy]")?.textContent).toBe("Copied ✓");
  });

  it("retries what an error button carries", () => {
    const t = setup(reduce(inRoom(), responded({ cmd: "skip" }, { status: "error", error: { kind: "network", message: "x" } })));
    t.click("[data-action=retry]");
    expect(t.requests).toEqual([{ cmd: "skip" }]);
  });

  it("edits and saves settings", () => {
    const t = setup(run(ok({ cmd: "currentRoom" }, null), ok({ cmd: "getSettings" }, settings)));
    t.click("[data-testid=settings-open]");
    expect(t.requests).toEqual([{ cmd: "outputDevices" }]);
    const name = t.root.querySelector("#set-name") as HTMLInputElement;
    name.value = "Zed";
    name.dispatchEvent(new Event("input", { bubbles: true }));
    const relay = t.root.querySelector('input[value="relay"]') as HTMLInputElement;
    relay.checked = true;
    relay.dispatchEvent(new Event("change", { bubbles: true }));
    const url = t.root.querySelector("#set-relay-url") as HTMLInputElement;
    url.value = "wss://relay.example/realtime/v1";
    url.dispatchEvent(new Event("input", { bubbles: true }));
    t.click("[data-testid=settings-save]");
    expect(t.requests.at(-1)).toEqual({
      cmd: "saveSettings",
      settings: { ...settings, displayName: "Zed", relay: { url: "wss://relay.example/realtime/v1", key: "" } },
    });
  });

  it("lets other computers join on a listen address, with a public address for invites", () => {
    const t = setup(run(ok({ cmd: "currentRoom" }, null), ok({ cmd: "getSettings" }, settings), { type: "openSettings" }));
    expect(t.root.querySelector("#set-listen")).toBeNull();
    const share = (checked: boolean) => {
      const box = t.root.querySelector("[data-testid=set-share]") as HTMLInputElement;
      box.checked = checked;
      box.dispatchEvent(new Event("change", { bubbles: true }));
    };
    const type = (sel: string, value: string) => {
      const el = t.root.querySelector(sel) as HTMLInputElement;
      el.value = value;
      el.dispatchEvent(new Event("input", { bubbles: true }));
    };
    share(true);
    expect((t.root.querySelector("#set-listen") as HTMLInputElement).value).toBe("0.0.0.0:7667");
    type("#set-public", "wss://old.example");
    // Unticking goes back to this computer only, forgetting the public address.
    share(false);
    expect(t.root.querySelector("#set-listen")).toBeNull();
    share(true);
    expect((t.root.querySelector("#set-public") as HTMLInputElement).value).toBe("");
    type("#set-listen", "0.0.0.0:9000");
    type("#set-public", " wss://music.example.org ");
    t.click("[data-testid=settings-save]");
    expect(t.requests.at(-1)).toEqual({ cmd: "saveSettings", settings: { ...settings, listen: "0.0.0.0:9000", publicUrl: "wss://music.example.org" } });
  });

  it("lets listeners anywhere join through a relay server, public unless one is named", () => {
    const t = setup(run(ok({ cmd: "currentRoom" }, null), ok({ cmd: "getSettings" }, settings), { type: "openSettings" }));
    expect(t.root.querySelector("#set-tunnel")).toBeNull();
    const anywhere = (checked: boolean) => {
      const box = t.root.querySelector("[data-testid=set-anywhere]") as HTMLInputElement;
      box.checked = checked;
      box.dispatchEvent(new Event("change", { bubbles: true }));
    };
    const relay = (value: string) => {
      const el = t.root.querySelector("#set-tunnel") as HTMLInputElement;
      el.value = value;
      el.dispatchEvent(new Event("input", { bubbles: true }));
    };
    anywhere(true);
    expect((t.root.querySelector("#set-tunnel") as HTMLInputElement).value).toBe("public");
    anywhere(false);
    expect(t.root.querySelector("#set-tunnel")).toBeNull();
    anywhere(true);
    relay("relay.example.org");
    t.click("[data-testid=settings-save]");
    expect(t.root.textContent).toContain("Enter the relay server as public, or its http:// or https:// address");
    relay(" http://relay.example.org:3340 ");
    t.click("[data-testid=settings-save]");
    expect(t.requests.at(-1)).toEqual({ cmd: "saveSettings", settings: { ...settings, tunnel: "http://relay.example.org:3340" } });
  });

  it("refuses to save invalid settings and says why", () => {
    const t = setup(run(ok({ cmd: "currentRoom" }, null), ok({ cmd: "getSettings" }, settings), { type: "openSettings" }));
    const name = t.root.querySelector("#set-name") as HTMLInputElement;
    name.value = "";
    name.dispatchEvent(new Event("input", { bubbles: true }));
    t.click("[data-testid=settings-save]");
    expect(t.requests.some((r) => r.cmd === "saveSettings")).toBe(false);
    expect(t.root.querySelector("[data-testid=settings] [data-testid=error]")?.textContent).toContain("display name");
  });

  it("moves a queue item with the arrow keys on its handle", () => {
    const t = setup(inRoom());
    const handle = t.root.querySelector('[data-action=reorder][data-track-id="t2"]') as HTMLElement;
    handle.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowUp", bubbles: true }));
    expect(t.requests).toEqual([{ cmd: "moveTrack", trackId: "t2", to: 0 }]);
  });
});

describe("typing tracker", () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it("says typing once, and stops after 3 s of quiet", () => {
    const sent: boolean[] = [];
    const t = new TypingTracker((v) => sent.push(v));
    t.input("h");
    t.input("he");
    vi.advanceTimersByTime(2900);
    t.input("hey");
    vi.advanceTimersByTime(2900);
    expect(sent).toEqual([true]);
    vi.advanceTimersByTime(200);
    expect(sent).toEqual([true, false]);
    t.input("");
    expect(sent).toEqual([true, false]);
  });
});

describe("keyboard shortcuts", () => {
  const ctx = { dialogOpen: false, canControl: true, inRoom: true };
  const body = document.body;

  it("Space toggles play for the host, but not while typing or on a button", () => {
    expect(shortcutFor({ key: " ", target: body }, ctx)).toBe("togglePlay");
    expect(shortcutFor({ key: " ", target: body }, { ...ctx, canControl: false })).toBeNull();
    expect(shortcutFor({ key: " ", target: document.createElement("input") }, ctx)).toBeNull();
    expect(shortcutFor({ key: " ", target: document.createElement("button") }, ctx)).toBeNull();
  });

  it("/ focuses chat; Esc closes an open dialog, even from a field", () => {
    expect(shortcutFor({ key: "/", target: body }, ctx)).toBe("focusChat");
    expect(shortcutFor({ key: "/", target: document.createElement("input") }, ctx)).toBeNull();
    expect(shortcutFor({ key: "Escape", target: document.createElement("input") }, { ...ctx, dialogOpen: true })).toBe("closeDialog");
    expect(shortcutFor({ key: "Escape", target: body }, ctx)).toBeNull();
    expect(shortcutFor({ key: " ", target: body }, { ...ctx, dialogOpen: true })).toBeNull();
  });
});
