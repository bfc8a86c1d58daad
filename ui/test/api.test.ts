import { afterEach, describe, expect, it, vi } from "vitest";

const invoke = vi.fn();
vi.mock("@tauri-apps/api/core", () => ({ invoke: (...args: unknown[]) => invoke(...args), Channel: class {} }));

const { call, TIMEOUT_MS } = await import("../src/api");
const { commands } = await import("../src/bindings");

afterEach(() => {
  invoke.mockReset();
  vi.useRealTimers();
});

describe("bindings", () => {
  it("invoke the Rust command names with camelCase arguments", async () => {
    invoke.mockResolvedValue(null);
    await commands.hostRoom("Party", ["/a.flac"]);
    await commands.moveTrack("t1", 2);
    await commands.seek(1500);
    await commands.currentRoom();
    expect(invoke.mock.calls).toEqual([
      ["host_room", { name: "Party", files: ["/a.flac"] }],
      ["move_track", { trackId: "t1", to: 2 }],
      ["seek", { positionMs: 1500 }],
      ["current_room"],
    ]);
  });

  it("turn a rejected AppError into an error result", async () => {
    invoke.mockRejectedValue({ kind: "notAllowed", message: "host only" });
    expect(await commands.skip()).toEqual({ status: "error", error: { kind: "notAllowed", message: "host only" } });
  });
});

describe("call", () => {
  it("answers with a responded action", async () => {
    invoke.mockResolvedValue(["Speakers"]);
    expect(await call({ cmd: "outputDevices" })).toEqual({
      type: "responded",
      cmd: "outputDevices",
      req: { cmd: "outputDevices" },
      result: { status: "ok", data: ["Speakers"] },
    });
  });

  it("passes a request's named fields to its binding in the binding's order", async () => {
    invoke.mockResolvedValue(null);
    await call({ cmd: "moveTrack", trackId: "t1", to: 2 });
    await call({ cmd: "hostRoom", name: "Party", files: ["/a.flac"] });
    expect(invoke.mock.calls).toEqual([
      ["move_track", { trackId: "t1", to: 2 }],
      ["host_room", { name: "Party", files: ["/a.flac"] }],
    ]);
  });

  it("never throws: a thrown Error becomes an internal AppError", async () => {
    invoke.mockRejectedValue(new TypeError("Cannot read properties of undefined (reading 'invoke')"));
    const a = await call({ cmd: "currentRoom" });
    expect(a.result).toMatchObject({ status: "error", error: { kind: "internal", message: expect.stringContaining("not reachable") } });
  });

  it("never hangs: no answer becomes a network error", async () => {
    vi.useFakeTimers();
    invoke.mockReturnValue(new Promise(() => undefined));
    const pending = call({ cmd: "play" });
    await vi.advanceTimersByTimeAsync(TIMEOUT_MS + 1);
    expect((await pending).result).toEqual({ status: "error", error: { kind: "network", message: "No answer after 20 s." } });
  });
});
