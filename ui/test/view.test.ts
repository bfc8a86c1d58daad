import { describe, expect, it } from "vitest";
import { decodeRequest, type RequestOf } from "../src/requests";
import { initialState, reduce, type AppState } from "../src/state";
import { loadable } from "../src/view/common";
import { renderApp } from "../src/view/app";
import { h } from "../src/dom";
import { err, inRoom, NOW, ok, playing, run, settings, view } from "./fixtures";

function render(s: AppState, now = NOW): HTMLElement {
  document.body.replaceChildren(renderApp(s, now));
  return document.body;
}
const q = (root: ParentNode, id: string) => root.querySelector<HTMLElement>(`[data-testid="${id}"]`);
const all = (root: ParentNode, id: string) => Array.from(root.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`));

describe("each Loadable state renders something", () => {
  const ready = (n: number) => h("b", null, String(n));
  const wrap = (child: ReturnType<typeof loadable>) => h("div", null, child);

  it("loading → a busy status with words", () => {
    const el = wrap(loadable<number>({ state: "loading" }, "devices", ready));
    expect(el.querySelector("[role=status]")?.getAttribute("aria-busy")).toBe("true");
    expect(el.textContent).toContain("Loading devices…");
  });

  it("error → the message and a Retry button carrying the request", () => {
    const el = wrap(loadable<number>({ state: "error", message: "no sound card", retry: { cmd: "outputDevices" } }, "devices", ready));
    expect(q(el, "error")?.textContent).toContain("no sound card");
    const retry = el.querySelector<HTMLElement>("[data-action=retry]");
    expect(retry?.textContent).toBe("Retry");
    expect(decodeRequest(retry?.dataset.retry)).toEqual({ cmd: "outputDevices" });
  });

  it("ready → the data", () => {
    expect(wrap(loadable<number>({ state: "ready", data: 7 }, "devices", ready)).innerHTML).toBe("<b>7</b>");
  });
});

describe("screens", () => {
  it("boot: loading, then a readable error with Retry", () => {
    expect(render(initialState()).textContent).toContain("Loading WhatsSound…");
    const root = render(run(err({ cmd: "currentRoom" }, "backend crashed")));
    expect(q(root, "error")?.textContent).toContain("backend crashed");
    expect(root.querySelector("[data-action=retry]")).not.toBeNull();
  });

  it("start screen has the host and join controls", () => {
    const root = render(run(ok({ cmd: "currentRoom" }, null)));
    for (const id of ["host-name", "host-files", "host-start", "join-invite", "join-start", "settings-open"]) {
      expect(q(root, id), id).not.toBeNull();
    }
    expect(q(root, "leave")).toBeNull();
  });

  it("start screen shows a host request in flight, then its error", () => {
    const req: RequestOf<"hostRoom"> = { cmd: "hostRoom", name: "x", files: [] };
    let s = run(ok({ cmd: "currentRoom" }, null), { type: "requested", req });
    expect(q(render(s), "host-start")?.hasAttribute("disabled")).toBe(true);
    s = reduce(s, err(req, "port in use"));
    const root = render(s);
    expect(q(root, "host-start")?.hasAttribute("disabled")).toBe(false);
    expect(q(root, "error")?.textContent).toContain("port in use");
  });

  it("room screen for the host: invite, controls, queue, chat, people", () => {
    const root = render(inRoom());
    expect(q(root, "invite-text")?.textContent).toContain("whatssound://join");
    for (const id of ["invite-copy", "invite-new", "leave", "now-title", "play-pause", "skip", "seek", "queue", "add-files", "chat-log", "chat-input", "chat-send", "people", "sync"]) {
      expect(q(root, id), id).not.toBeNull();
    }
    expect(q(root, "now-title")?.textContent).toBe("Opening");
    expect(q(root, "play-pause")?.getAttribute("aria-label")).toBe("Pause");
    const items = all(root, "queue-item");
    expect(items.map((i) => i.dataset.trackId)).toEqual(["t1", "t2", "t3"]);
    expect(all(root, "vote")).toHaveLength(3);
    expect(all(root, "remove")).toHaveLength(3); // the host may remove any track
    expect(items[2]?.classList.contains("unplayable")).toBe(true);
    expect(items[2]?.textContent).toContain("unsupported codec");
    expect(all(root, "chat-line").map((l) => l.textContent)).toEqual([expect.stringContaining("hello"), expect.stringContaining("You")]);
    expect(all(root, "person").map((p) => p.dataset.userId)).toEqual(["u1", "u2"]);
    expect(q(root, "banner")).toBeNull();
    expect(root.querySelectorAll("button:not([aria-label])")).toHaveLength(0);
  });

  it("room screen for a listener: no invite or host controls, remove only own tracks", () => {
    const root = render(inRoom({ role: "listener", invite: null }));
    expect(q(root, "invite-text")).toBeNull();
    expect(q(root, "play-pause")).toBeNull();
    expect(q(root, "skip")).toBeNull();
    expect(q(root, "seek")?.hasAttribute("disabled")).toBe(true);
    expect(all(root, "remove").map((r) => r.dataset.trackId)).toEqual(["t2"]);
  });

  it("progress follows the clock while playing", () => {
    const s = inRoom({ nowPlaying: playing({ positionMs: 60_000, atMs: NOW }) });
    expect((q(render(s, NOW + 5_000), "seek") as HTMLInputElement).getAttribute("value")).toBe("65000");
    expect(render(s, NOW + 5_000).textContent).toContain("1:05");
  });

  it("shows both votes, their counts, and which is mine", () => {
    const root = render(inRoom({ queue: [{ ...view().queue[0]!, votes: 4, downVotes: 2, myVote: "up" }] }));
    const up = q(root, "vote");
    const down = q(root, "vote-down");
    expect(up?.getAttribute("aria-pressed")).toBe("true");
    expect(up?.textContent).toContain("4");
    expect(up?.dataset.up).toBe("true");
    expect(down?.getAttribute("aria-pressed")).toBe("false");
    expect(down?.textContent).toContain("2");
    expect(down?.dataset.up).toBe("false");
    expect(down?.getAttribute("aria-label")).toContain("skip it while it plays");
  });

  it("reconnecting banner counts down", () => {
    const s = reduce(inRoom(), { type: "connectionChanged", conn: { state: "reconnecting", attempt: 2, nextTryMs: 5000 }, now: NOW });
    expect(q(render(s, NOW), "banner")?.textContent).toContain("next try in 5 s");
    expect(q(render(s, NOW + 2100), "banner")?.textContent).toContain("next try in 3 s");
    const back = reduce(s, { type: "connectionChanged", conn: { state: "connected" }, now: NOW });
    expect(q(render(back), "banner")).toBeNull();
  });

  it("sync indicator text and colour", () => {
    const sync = { offsetMs: 3, rttMs: 4, uncertaintyMs: 0, clockPath: "udp" as const, reach: "address" as const, opusKbps: null, errorMs: 0.3, corrections: 1, underruns: 0 };
    const good = q(render(reduce(inRoom(), { type: "syncChanged", sync })), "sync");
    expect(good?.textContent).toBe("±0.3 ms");
    expect(good?.classList.contains("good")).toBe(true);
    const bad = q(render(reduce(inRoom(), { type: "syncChanged", sync: { ...sync, errorMs: 8 } })), "sync");
    expect(bad?.classList.contains("bad")).toBe(true);
  });

  it("sync indicator counts the clock estimate's own uncertainty", () => {
    const sync = { offsetMs: 3, rttMs: 80, uncertaintyMs: 7.8, clockPath: "websocket" as const, reach: "address" as const, opusKbps: null, errorMs: -0.2, corrections: 1, underruns: 0 };
    const el = q(render(reduce(inRoom(), { type: "syncChanged", sync })), "sync");
    expect(el?.textContent).toBe("±8.0 ms");
    expect(el?.classList.contains("bad")).toBe(true);
    expect(el?.getAttribute("title")).toContain("known to ±7.8 ms (±40.0 ms at worst");
  });

  it("sync indicator says when the clock comes from a listener on this LAN", () => {
    const sync = { offsetMs: 3, rttMs: 0.2, uncertaintyMs: 0.4, clockPath: "lan" as const, reach: "address" as const, opusKbps: null, errorMs: 0.1, corrections: 0, underruns: 0 };
    const el = q(render(reduce(inRoom(), { type: "syncChanged", sync })), "sync");
    expect(el?.textContent).toBe("±0.5 ms · LAN");
    expect(el?.getAttribute("title")).toContain("shared with another listener on this network");
    const direct = q(render(reduce(inRoom(), { type: "syncChanged", sync: { ...sync, clockPath: "udp" as const } })), "sync");
    expect(direct?.textContent).toBe("±0.5 ms");
  });

  it("sync indicator says when the link is too thin for the original and Opus copies play", () => {
    const sync = { offsetMs: 3, rttMs: 30, uncertaintyMs: 0.4, clockPath: "udp" as const, reach: "address" as const, opusKbps: 96, errorMs: 0.1, corrections: 0, underruns: 0 };
    const el = q(render(reduce(inRoom(), { type: "syncChanged", sync })), "sync");
    expect(el?.textContent).toBe("±0.5 ms · Opus 96k");
    expect(el?.getAttribute("title")).toContain("too slow for the original files, so the host sends Opus copies at 96 kbit/s");
  });

  it("sync indicator says when the room comes via a relay server", () => {
    const sync = { offsetMs: 3, rttMs: 30, uncertaintyMs: 0.4, clockPath: "udp" as const, reach: "relay" as const, opusKbps: null, errorMs: 0.1, corrections: 0, underruns: 0 };
    const el = q(render(reduce(inRoom(), { type: "syncChanged", sync })), "sync");
    expect(el?.textContent).toBe("±0.5 ms · via relay");
    expect(el?.getAttribute("title")).toContain("via a relay server");
    const direct = q(render(reduce(inRoom(), { type: "syncChanged", sync: { ...sync, reach: "direct" as const } })), "sync");
    expect(direct?.textContent).toBe("±0.5 ms");
    expect(direct?.getAttribute("title")).toContain("Connected straight to the host");
  });

  it("buffering progress for the current track", () => {
    const s = reduce(inRoom(), { type: "bufferingChanged", buffering: { trackId: "t0", bytes: 40, total: 100, bufferedMs: 2000 } });
    expect(q(render(s), "buffering")?.textContent).toContain("Buffering 40%");
    const done = reduce(s, { type: "bufferingChanged", buffering: { trackId: "t0", bytes: 100, total: 100, bufferedMs: 9000 } });
    expect(q(render(done), "buffering")).toBeNull();
  });

  it("typing indicator and floating reactions", () => {
    let s = inRoom({ people: [view().people[0]!, { ...view().people[1]!, typing: true }] });
    s = reduce(s, { type: "reactionReceived", emoji: "🎉", from: "Bob", now: NOW });
    const root = render(s);
    expect(q(root, "typing")?.textContent).toBe("Bob is typing…");
    expect(root.querySelector(".float")?.textContent).toBe("🎉");
  });

  it("room ended replaces the room with a way back", () => {
    const root = render(reduce(inRoom({ role: "listener" }), { type: "roomEnded", reason: "Host closed the room" }));
    expect(q(root, "room-ended")?.textContent).toContain("Host closed the room");
    expect(root.querySelector("[data-action=back-to-start]")).not.toBeNull();
    expect(q(root, "banner")).toBeNull();
  });

  it("cover art when there is one", () => {
    const root = render(inRoom({ nowPlaying: playing({ coverUrl: "http://127.0.0.1/cover/t0" }) }));
    expect(root.querySelector<HTMLImageElement>(".cover img")?.getAttribute("src")).toBe("http://127.0.0.1/cover/t0");
  });

  it("a failed action shows an error with Retry and a dismiss button", () => {
    const req = { cmd: "skip" } as const;
    const root = render(reduce(inRoom(), err(req, "not allowed")));
    expect(q(root, "error")?.textContent).toContain("not allowed");
    expect(decodeRequest(root.querySelector<HTMLElement>("[data-action=retry]")?.dataset.retry)).toEqual(req);
    expect(root.querySelector("[data-action=dismiss-notice]")).not.toBeNull();
  });
});

describe("settings dialog", () => {
  it("loading, then the form; devices load on their own with a retry", () => {
    let s = run(ok({ cmd: "currentRoom" }, null), { type: "openSettings" });
    expect(q(render(s), "settings")?.textContent).toContain("Loading settings…");
    s = reduce(s, ok({ cmd: "getSettings" }, settings));
    s = reduce(s, err({ cmd: "outputDevices" }, "no audio"));
    let root = render(s);
    expect((root.querySelector("#set-name") as HTMLInputElement).value).toBe("Ann");
    expect(q(root, "settings")?.textContent).toContain("no audio");
    expect(q(root, "settings")?.textContent).toContain("Positive plays earlier");
    expect(root.querySelector("#set-relay-url")).toBeNull();
    s = reduce(s, ok({ cmd: "outputDevices" }, ["Speakers", "Headphones"]));
    s = reduce(s, { type: "settingsEdited", patch: { relay: { url: "", key: "" } } });
    root = render(s);
    expect(Array.from(root.querySelectorAll("#set-device option")).map((o) => o.textContent)).toEqual(["System default", "Speakers", "Headphones"]);
    expect(root.querySelector("#set-relay-url")).not.toBeNull();
  });

  it("shows a failed settings load with Retry", () => {
    const s = run(ok({ cmd: "currentRoom" }, null), err({ cmd: "getSettings" }, "config unreadable"), { type: "openSettings" });
    const dialog = q(render(s), "settings");
    expect(dialog?.textContent).toContain("config unreadable");
    expect(dialog?.querySelector("[data-action=retry]")).not.toBeNull();
  });
});
