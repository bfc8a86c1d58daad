import { describe, expect, it } from "vitest";
import type { RequestOf } from "../src/requests";
import { validateSettings } from "../src/derive";
import { currentView, initialState, needsTick, reduce, REACTION_MS } from "../src/state";
import { err, inRoom, NOW, ok, run, settings, track, view } from "./fixtures";

describe("loading the room", () => {
  it("starts loading, then shows the start screen when not in a room", () => {
    expect(initialState().room).toEqual({ state: "loading" });
    const s = run({ type: "requested", req: { cmd: "currentRoom" } }, ok({ cmd: "currentRoom" }, null));
    expect(s.room).toEqual({ state: "ready", data: null });
  });

  it("goes loading → ready with the room view", () => {
    const s = inRoom();
    expect(s.room.state).toBe("ready");
    expect(currentView(s)?.name).toBe("Friday");
  });

  it("goes loading → error with the request to retry, then retry → loading → ready", () => {
    const req = { cmd: "currentRoom" } as const;
    let s = run({ type: "requested", req }, err(req, "hub unreachable"));
    expect(s.room).toEqual({ state: "error", message: "hub unreachable", retry: req });
    s = reduce(s, { type: "requested", req });
    expect(s.room).toEqual({ state: "loading" });
    s = reduce(s, ok(req, view()));
    expect(s.room.state).toBe("ready");
  });

  it("explains an error with an empty message by its kind", () => {
    const req = { cmd: "currentRoom" } as const;
    const s = run(err(req, "  ", "notInRoom"));
    expect(s.room).toMatchObject({ state: "error", message: "You are not in a room." });
  });

  it("does not let a late currentRoom answer overwrite a newer event", () => {
    const s = run({ type: "roomChanged", view: view({ name: "Newer" }) }, ok({ cmd: "currentRoom" }, null));
    expect(currentView(s)?.name).toBe("Newer");
  });
});

describe("hosting and joining", () => {
  it("tracks the host request and enters the room on success", () => {
    const req: RequestOf<"hostRoom"> = { cmd: "hostRoom", name: "Party", files: ["/a.flac"] };
    let s = run(ok({ cmd: "currentRoom" }, null), { type: "hostFilesPicked", paths: ["/a.flac", "/a.flac"] });
    expect(s.hostFiles).toEqual(["/a.flac"]);
    s = reduce(s, { type: "requested", req });
    expect(s.start).toEqual({ kind: "host", op: { state: "loading" } });
    s = reduce(s, ok(req, view({ name: "Party" })));
    expect(s.start).toBeNull();
    expect(s.hostFiles).toEqual([]);
    expect(currentView(s)?.name).toBe("Party");
  });

  it("keeps a failed join on the start screen with a retry", () => {
    const req = { cmd: "joinRoom", invite: "whatssound://bad" } as const;
    const s = run(ok({ cmd: "currentRoom" }, null), { type: "requested", req }, err(req, "invite expired", "badInput"));
    expect(s.start).toEqual({ kind: "join", op: { state: "error", message: "invite expired", retry: req } });
    expect(currentView(s)).toBeNull();
  });
});

describe("connection banner", () => {
  it("records reconnecting with when it arrived, and needs the clock", () => {
    const s = reduce(inRoom(), { type: "connectionChanged", conn: { state: "reconnecting", attempt: 3, nextTryMs: 4000 }, now: NOW });
    expect(s.connection).toEqual({ conn: { state: "reconnecting", attempt: 3, nextTryMs: 4000 }, receivedAt: NOW });
    expect(needsTick({ ...s, room: { state: "ready", data: view({ nowPlaying: null }) } })).toBe(true);
  });

  it("clears on connected", () => {
    let s = reduce(inRoom(), { type: "connectionChanged", conn: { state: "reconnecting", attempt: 1, nextTryMs: 1000 }, now: NOW });
    s = reduce(s, { type: "connectionChanged", conn: { state: "connected" }, now: NOW + 1000 });
    expect(s.connection?.conn.state).toBe("connected");
  });
});

describe("room ended", () => {
  it("ends on the roomEnded event and goes back to start cleanly", () => {
    let s = reduce(inRoom({ role: "listener" }), { type: "roomEnded", reason: "The host left." });
    expect(s.ended).toEqual({ reason: "The host left." });
    s = reduce(s, { type: "backToStart" });
    expect(s.ended).toBeNull();
    expect(s.room).toEqual({ state: "ready", data: null });
    expect(s.connection).toBeNull();
  });

  it("ends when a view arrives closed", () => {
    const s = reduce(inRoom(), { type: "roomChanged", view: view({ closed: true }) });
    expect(s.ended?.reason).toMatch(/closed/);
  });

  it("forgets the room after leaving, also when the backend says we were not in one", () => {
    const req = { cmd: "leaveRoom" } as const;
    let s = reduce(inRoom(), { type: "requested", req });
    expect(s.leave.state).toBe("loading");
    // A last view while leaving does not pull us back in.
    s = reduce(s, { type: "roomChanged", view: view() });
    expect(reduce(s, ok(req, null)).room).toEqual({ state: "ready", data: null });
    expect(reduce(s, err(req, "", "notInRoom")).room).toEqual({ state: "ready", data: null });
    const failed = reduce(s, err(req, "disk full"));
    expect(failed.leave.state).toBe("idle");
    expect(failed.notice).toEqual({ message: "disk full", retry: req });
  });
});

describe("votes", () => {
  it("shows the vote at once and puts it back if the backend refuses", () => {
    const req = { cmd: "vote", trackId: "t1", up: true } as const;
    let s = reduce(inRoom(), { type: "requested", req });
    expect(currentView(s)?.queue[0]).toMatchObject({ myVote: "up", votes: 1, downVotes: 0 });
    s = reduce(s, err(req, "not allowed"));
    expect(currentView(s)?.queue[0]).toMatchObject({ myVote: null, votes: 0, downVotes: 0 });
    expect(s.notice?.retry).toEqual(req);
  });

  it("turns a vote round, moving both tallies, and back to what it was on a refusal", () => {
    const up = { cmd: "vote", trackId: "t1", up: true } as const;
    const down = { cmd: "vote", trackId: "t1", up: false } as const;
    let s = reduce(inRoom(), { type: "requested", req: up });
    s = reduce(s, { type: "requested", req: down });
    expect(currentView(s)?.queue[0]).toMatchObject({ myVote: "down", votes: 0, downVotes: 1 });
    s = reduce(s, err(down, "the room is closed"));
    expect(currentView(s)?.queue[0]).toMatchObject({ myVote: "up", votes: 1, downVotes: 0 });
    // The same vote again changes nothing.
    expect(reduce(s, { type: "requested", req: up })).toBe(s);
  });
});

describe("other events", () => {
  it("keeps sync, buffering and a fresh view", () => {
    let s = reduce(inRoom(), { type: "syncChanged", sync: { offsetMs: 1, rttMs: 2, uncertaintyMs: 0.1, clockPath: "udp" as const, reach: "address", opusKbps: null, errorMs: 7.5, corrections: 0, underruns: 0 } });
    s = reduce(s, { type: "bufferingChanged", buffering: { trackId: "t0", bytes: 5, total: 10, bufferedMs: 900 } });
    s = reduce(s, { type: "roomChanged", view: view({ queue: [track("x")] }) });
    expect(s.sync?.errorMs).toBe(7.5);
    expect(s.buffering?.bytes).toBe(5);
    expect(currentView(s)?.queue.map((q) => q.id)).toEqual(["x"]);
  });

  it("floats reactions and lets them go after a while", () => {
    let s = reduce(inRoom(), { type: "reactionReceived", emoji: "🔥", from: "Bob", now: NOW });
    s = reduce(s, { type: "reactionReceived", emoji: "👍", from: "Ann", now: NOW + 1000 });
    expect(s.reactions.map((r) => [r.id, r.emoji])).toEqual([[1, "🔥"], [2, "👍"]]);
    s = reduce(s, { type: "tick", now: NOW + REACTION_MS + 10 });
    expect(s.reactions.map((r) => r.emoji)).toEqual(["👍"]);
  });

  it("updates the invite after newInvite", () => {
    const req = { cmd: "newInvite" } as const;
    let s = reduce(inRoom(), { type: "requested", req });
    expect(s.invite.state).toBe("loading");
    s = reduce(s, ok(req, "whatssound://join?new"));
    expect(currentView(s)?.invite).toBe("whatssound://join?new");
    expect(s.invite.state).toBe("idle");
  });

  it("holds a seek position until the backend answers", () => {
    const req = { cmd: "seek", positionMs: 42_000 } as const;
    let s = reduce(inRoom(), { type: "seekDraft", positionMs: 41_000 });
    s = reduce(s, { type: "requested", req });
    expect(s.seekDraft).toBe(42_000);
    expect(reduce(s, ok(req, null)).seekDraft).toBeNull();
  });
});

describe("settings", () => {
  it("opens with a draft once settings load, edits it, and closes on save", () => {
    let s = run({ type: "openSettings" });
    expect(s.dialog?.draft).toBeNull();
    s = reduce(s, ok({ cmd: "getSettings" }, settings));
    expect(s.dialog?.draft).toEqual(settings);
    s = reduce(s, { type: "settingsEdited", patch: { displayName: "Zed", relay: { url: "wss://r", key: "k" } } });
    expect(s.dialog?.draft).toMatchObject({ displayName: "Zed", relay: { url: "wss://r", key: "k" } });
    const req = { cmd: "saveSettings", settings: s.dialog!.draft! } as const;
    s = reduce(s, { type: "requested", req });
    expect(s.dialog?.save.state).toBe("loading");
    s = reduce(s, ok(req, req.settings));
    expect(s.dialog).toBeNull();
    expect(s.settings).toEqual({ state: "ready", data: req.settings });
  });

  it("shows a failed device list with a retry", () => {
    const req = { cmd: "outputDevices" } as const;
    const s = run({ type: "requested", req }, err(req, "no audio backend"));
    expect(s.devices).toEqual({ state: "error", message: "no audio backend", retry: req });
  });

  it("validates before saving", () => {
    expect(validateSettings(settings)).toBeNull();
    expect(validateSettings({ ...settings, displayName: " " })).toMatch(/name/);
    expect(validateSettings({ ...settings, relay: { url: "nope", key: "" } })).toMatch(/URL/);
    expect(validateSettings({ ...settings, relay: { url: "wss://relay.example/realtime/v1", key: "" } })).toBeNull();
    expect(validateSettings({ ...settings, listen: "0.0.0.0:7667", publicUrl: "wss://music.example.org/" })).toBeNull();
    expect(validateSettings({ ...settings, listen: "[::]:7667" })).toBeNull();
    expect(validateSettings({ ...settings, listen: "my computer" })).toMatch(/listen address/);
    expect(validateSettings({ ...settings, listen: "0.0.0.0:7667", publicUrl: "https://x/y" })).toMatch(/public address/);
  });
});
