import { describe, expect, it } from "vitest";
import {
  bannerText,
  bufferFraction,
  dropTarget,
  formatSyncError,
  formatTime,
  initials,
  positionAt,
  reconnectInSeconds,
  syncLevel,
  typingText,
} from "../src/derive";
import { NOW, person, playing } from "./fixtures";

describe("progress interpolation", () => {
  it("advances from positionMs by the time since atMs while playing", () => {
    expect(positionAt(playing({ positionMs: 10_000, atMs: NOW }), NOW + 2_500)).toBe(12_500);
  });

  it("stands still when paused", () => {
    expect(positionAt(playing({ playing: false, positionMs: 10_000, atMs: NOW }), NOW + 60_000)).toBe(10_000);
  });

  it("never runs past the end or before the report", () => {
    expect(positionAt(playing({ durationMs: 11_000 }), NOW + 60_000)).toBe(11_000);
    expect(positionAt(playing({ positionMs: 10_000 }), NOW - 5_000)).toBe(10_000);
    expect(positionAt(playing({ durationMs: null }), NOW + 1000)).toBe(11_000);
  });

  it("formats times", () => {
    expect(formatTime(83_000)).toBe("1:23");
    expect(formatTime(3_723_000)).toBe("1:02:03");
    expect(formatTime(0)).toBe("0:00");
    expect(formatTime(null)).toBe("–:––");
  });
});

describe("sync indicator", () => {
  it("shows the error as ±x ms and colours it past 5 ms", () => {
    expect(formatSyncError(0.27)).toBe("±0.3 ms");
    expect(formatSyncError(-4.96)).toBe("±5.0 ms");
    expect(formatSyncError(12.4)).toBe("±12 ms");
    expect(syncLevel(0.3)).toBe("good");
    expect(syncLevel(5)).toBe("good");
    expect(syncLevel(5.1)).toBe("bad");
    expect(syncLevel(-7)).toBe("bad");
  });
});

describe("reconnect countdown", () => {
  it("counts down whole seconds from when the event arrived", () => {
    expect(reconnectInSeconds(4000, NOW, NOW)).toBe(4);
    expect(reconnectInSeconds(4000, NOW, NOW + 1500)).toBe(3);
    expect(reconnectInSeconds(4000, NOW, NOW + 9000)).toBe(0);
  });

  it("also reads a wall-clock time", () => {
    expect(reconnectInSeconds(NOW + 2000, NOW - 500, NOW)).toBe(2);
  });

  it("words each connection state", () => {
    expect(bannerText({ state: "connected" }, NOW, NOW)).toBeNull();
    expect(bannerText({ state: "connecting" }, NOW, NOW)).toBe("Connecting…");
    expect(bannerText({ state: "reconnecting", attempt: 2, nextTryMs: 5000 }, NOW, NOW + 1000)).toBe("Reconnecting… next try in 4 s");
    expect(bannerText({ state: "reconnecting", attempt: 2, nextTryMs: 5000 }, NOW, NOW + 6000)).toBe("Reconnecting…");
    expect(bannerText({ state: "offline", reason: "hub gone" }, NOW, NOW)).toBe("Offline: hub gone");
  });
});

describe("small helpers", () => {
  it("says who is typing, leaving me out", () => {
    const people = [person("me", { typing: true }), person("a", { name: "Ann", typing: true }), person("b", { name: "Bob" })];
    expect(typingText(people, "me")).toBe("Ann is typing…");
    expect(typingText([...people, person("c", { name: "Cy", typing: true })], "me")).toBe("Ann and Cy are typing…");
    expect(typingText(people.slice(2), "me")).toBeNull();
  });

  it("makes initials", () => {
    expect(initials("ann lee")).toBe("AL");
    expect(initials("bob")).toBe("B");
    expect(initials("  ")).toBe("?");
  });

  it("measures buffering", () => {
    expect(bufferFraction({ trackId: "t", bytes: 25, total: 100, bufferedMs: 0 })).toBe(0.25);
    expect(bufferFraction({ trackId: "t", bytes: 25, total: null, bufferedMs: 0 })).toBeNull();
  });

  it("finds where a dragged queue item lands", () => {
    const mids = [10, 30, 50, 70];
    expect(dropTarget(mids, 5, 2)).toBe(0);
    expect(dropTarget(mids, 45, 2)).toBe(2); // still between its neighbours
    expect(dropTarget(mids, 65, 0)).toBe(2);
    expect(dropTarget(mids, 99, 0)).toBe(3);
    expect(dropTarget(mids, 20, 3)).toBe(1);
  });
});
