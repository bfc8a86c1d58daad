// The desktop app, driven as a user drives it (tauri-driver → WebKitWebDriver → the real app in a
// real WebKit window under Xvfb), with `whatssound-cli` processes as the other people in the room.
// Each step leaves a screenshot in $E2E_SHOTS (default test-output/e2e).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { remote } from "webdriverio";

const root = resolve(import.meta.dirname, "../..");
const target = process.env.CARGO_TARGET_DIR ?? join(process.env.HOME, ".cache/whatssound/target");
const APP = process.env.WHATSSOUND_APP ?? join(target, "debug/whatssound");
const CLI = process.env.WHATSSOUND_CLI ?? join(target, "debug/whatssound-cli");
const SHOTS = process.env.E2E_SHOTS ?? join(root, "test-output/e2e");
const WAIT = 20_000;

mkdirSync(SHOTS, { recursive: true });
const work = mkdtempSync(join(tmpdir(), "whatssound-e2e-"));
const running = [];

/** A free loopback port (bound and released). */
function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** Starts a process; remembers it so every one is stopped at the end. */
function start(cmd, args, env = {}) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  running.push(child);
  child.lines = [];
  child.waiters = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    let v;
    try {
      v = JSON.parse(line);
    } catch {
      v = { raw: line };
    }
    child.lines.push(v);
    child.waiters = child.waiters.filter((w) => !(w.want(v) && (w.ok(v), true)));
  });
  child.stderr.on("data", () => {});
  return child;
}

/** The first line (already printed or to come) that `want` accepts. */
function line(child, want, what) {
  const seen = child.lines.find(want);
  if (seen) return Promise.resolve(seen);
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`no ${what} within ${WAIT} ms; saw ${JSON.stringify(child.lines.slice(-8))}`)), WAIT);
    child.waiters.push({ want, ok: (v) => (clearTimeout(timer), ok(v)) });
  });
}

function stop(child, signal = "SIGTERM") {
  return new Promise((ok) => {
    if (child.exitCode !== null || child.signalCode !== null) return ok();
    child.once("exit", () => ok());
    child.kill(signal);
    setTimeout(() => (child.kill("SIGKILL"), ok()), 5_000).unref();
  });
}

function run(args) {
  return new Promise((ok) => {
    const child = spawn(CLI, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", (code) => ok({ code, out, err }));
  });
}

/** A short WAV tone (16-bit stereo, 44.1 kHz). */
function tone(path, seconds, hz) {
  const rate = 44_100;
  const frames = Math.round(rate * seconds);
  const data = Buffer.alloc(frames * 4);
  for (let i = 0; i < frames; i++) {
    const v = Math.round(Math.sin((2 * Math.PI * hz * i) / rate) * 12_000);
    data.writeInt16LE(v, i * 4);
    data.writeInt16LE(v, i * 4 + 2);
  }
  const h = Buffer.alloc(44);
  h.write("RIFF", 0);
  h.writeUInt32LE(36 + data.length, 4);
  h.write("WAVEfmt ", 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(2, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 4, 28);
  h.writeUInt16LE(4, 32);
  h.writeUInt16LE(16, 34);
  h.write("data", 36);
  h.writeUInt32LE(data.length, 40);
  writeFileSync(path, Buffer.concat([h, data]));
  return path;
}

let driver;
let browser;

async function openApp() {
  const port = await freePort();
  const nativePort = await freePort();
  driver = start("tauri-driver", ["--port", String(port), "--native-port", String(nativePort)], {
    WHATSSOUND_DATA_DIR: join(work, "app"),
    WHATSSOUND_OUTPUT: "null",
  });
  // tauri-driver answers once it listens; retry the session a few times while it starts.
  for (let attempt = 0; ; attempt++) {
    try {
      browser = await remote({
        hostname: "127.0.0.1",
        port,
        logLevel: "error",
        connectionRetryTimeout: 30_000,
        connectionRetryCount: 1,
        capabilities: { "tauri:options": { application: APP } },
      });
      return;
    } catch (e) {
      if (attempt >= 20) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

const $ = (id) => browser.$(`[data-testid="${id}"]`);
const shot = (name) => browser.saveScreenshot(join(SHOTS, `${name}.png`));
async function until(what, check) {
  await browser.waitUntil(check, { timeout: WAIT, timeoutMsg: `${what} within ${WAIT} ms` });
}
/** The text of every element with this test id, read in the page. */
function texts(id) {
  return browser.execute((tid) => [...document.querySelectorAll(`[data-testid="${tid}"]`)].map((e) => e.textContent ?? ""), id);
}

/** An input's value (or an element's text), read in the page. */
function valueOf(id) {
  return browser.execute((tid) => {
    const e = document.querySelector(`[data-testid="${tid}"]`);
    return e ? ("value" in e ? e.value : e.textContent) || e.textContent || "" : "";
  }, id);
}

before(async () => {
  assert.ok(process.env.DISPLAY, "the end-to-end tests need a display: run them through tests/e2e/run.sh (Xvfb)");
  await openApp();
});

after(async () => {
  await browser?.deleteSession().catch(() => {});
  // SIGTERM, never SIGKILL, for tauri-driver: a killed one leaves WebKitWebDriver running.
  for (const child of running.reverse()) await stop(child);
});

/** The settings dialog's open state, read in the page. */
function settingsOpen() {
  return browser.execute(() => document.querySelector('[data-testid="settings"]') !== null);
}

test("the app hosts a room; a CLI listener joins, chats both ways, sees tracks added, votes and a skip", async () => {
  // Settings first: a name, and the room shared with other computers on a port of our choosing.
  const port = await freePort();
  await (await $("settings-open")).waitForDisplayed({ timeout: WAIT });
  await (await $("settings-open")).click();
  await (await browser.$("#set-name")).waitForDisplayed({ timeout: WAIT });
  await (await browser.$("#set-name")).setValue("Hana");
  await (await $("set-share")).click();
  await (await $("set-listen")).waitForDisplayed({ timeout: WAIT });
  await (await $("set-listen")).setValue(`0.0.0.0:${port}`);
  await shot("0-settings");
  await (await $("settings-save")).click();
  await until("the settings saved and closed", async () => !(await settingsOpen()));
  // They come back as saved, and Esc closes the dialog.
  await (await $("settings-open")).click();
  await (await $("set-listen")).waitForDisplayed({ timeout: WAIT });
  assert.equal(await (await browser.$("#set-name")).getValue(), "Hana");
  assert.equal(await (await $("set-listen")).getValue(), `0.0.0.0:${port}`);
  await browser.keys("Escape");
  await until("Esc closing the settings", async () => !(await settingsOpen()));

  await (await $("host-name")).waitForDisplayed({ timeout: WAIT });
  await (await $("host-name")).setValue("E2E Jam");
  await (await $("host-start")).click();
  await until("the invite", async () => (await valueOf("invite-text")).startsWith("whatssound://join?"));
  const invite = (await valueOf("invite-text")).trim();
  const ws = new URL(invite.replace("whatssound://", "http://x/")).searchParams.get("ws") ?? "";
  assert.ok(ws.endsWith(`:${port}`) && !ws.includes("0.0.0.0"), `the invite names this machine on the chosen port: ${ws}`);
  await until("the host's name in the people list", async () => (await texts("person")).some((t) => t.includes("Hana")));
  await shot("1-hosting");

  // (1) A listener joins: the app's presence list shows it.
  const ann = start(CLI, ["listen", invite, "--name", "cli-ann", "--data-dir", join(work, "ann")]);
  await line(ann, (v) => v.event === "joined", "join");
  await until("cli-ann in the people list", async () => (await texts("person")).some((t) => t.includes("cli-ann")));
  await shot("2-listener-joined");

  // (2) A chat from the CLI appears in the app.
  const sent = await run(["send", invite, "--data-dir", join(work, "ann"), "chat", "hello from the terminal"]);
  assert.equal(sent.code, 0, sent.err);
  await until("the CLI's chat in the app", async () => (await texts("chat-line")).some((t) => t.includes("hello from the terminal")));
  await shot("3-chat-from-cli");

  // (3) A chat typed in the app reaches the CLI listener.
  await (await $("chat-input")).setValue("hello from the window");
  await (await $("chat-send")).click();
  await line(ann, (v) => v.event === "chat" && v.text === "hello from the window", "the app's chat at the CLI");
  await shot("4-chat-from-app");

  // (4) A track added in the app reaches the listener as a queue diff.
  const song = tone(join(work, "Window Song.wav"), 20, 330);
  const added = await browser.execute(async (p) => (await window.__whatssound.addTracks([p])).status, song);
  assert.equal(added, "ok");
  const insert = await line(ann, (v) => v.event === "queue_diff" && v.diff?.op === "insert", "the queue insert");
  assert.equal(insert.diff.track.title, "Window Song");
  await until("the track in the app's queue", async () => (await texts("queue-item")).some((t) => t.includes("Window Song")));
  await shot("5-track-added");

  // (5) A vote from the CLI shows in the app; the host's skip moves the room on.
  const trackId = insert.diff.track.id;
  const voted = await run(["send", invite, "--data-dir", join(work, "ann"), "vote", trackId, "up"]);
  assert.equal(voted.code, 0, voted.err);
  await until("the vote count", async () =>
    browser.execute((id) => document.querySelector(`[data-track-id="${id}"] [data-testid="vote"]`)?.textContent?.includes("1") ?? false, trackId),
  );
  await (await $("skip")).click();
  await line(ann, (v) => v.event === "queue_diff" && v.diff?.op === "delete" && v.diff.id === trackId, "the skipped track leaving the queue");
  await until("the skipped track gone from the app", async () => !(await texts("queue-item")).some((t) => t.includes("Window Song")));
  await shot("6-voted-and-skipped");

  // A reaction from the CLI floats up in the app. A float lives 3 s, so the page notes every one
  // that appears from before the send on, rather than the test hoping to look in time.
  await browser.execute(() => {
    window.__floats = [];
    new MutationObserver((changes) => {
      for (const c of changes) for (const n of c.addedNodes) if (n instanceof Element && n.matches(".float")) window.__floats.push(n.textContent);
    }).observe(document.body, { childList: true, subtree: true });
  });
  const reacted = await run(["send", invite, "--data-dir", join(work, "ann"), "react", "🎉"]);
  assert.equal(reacted.code, 0, reacted.err);
  await until("the reaction floating", async () => browser.execute(() => window.__floats.includes("🎉")));
  await shot("6b-reaction");

  // The host drags a track up the queue by its handle; the listener sees the reorder.
  const tunes = ["Tune A", "Tune B", "Tune C"].map((t, i) => tone(join(work, `${t}.wav`), 20, 220 + 110 * i));
  assert.equal(await browser.execute(async (p) => (await window.__whatssound.addTracks(p)).status, tunes), "ok");
  await until("three tunes queued in the app", async () => {
    const q = await texts("queue-item");
    return ["Tune A", "Tune B", "Tune C"].every((n) => q.some((t) => t.includes(n)));
  });
  const ids = await browser.execute(() =>
    Object.fromEntries([...document.querySelectorAll('[data-testid="queue-item"]')].map((e) => [e.querySelector(".q-title")?.textContent ?? "", e.getAttribute("data-track-id")])),
  );
  const idOf = (name) => Object.entries(ids).find(([t]) => t.includes(name))?.[1];
  const [b, c] = [idOf("Tune B"), idOf("Tune C")];
  assert.ok(b && c, JSON.stringify(ids));
  await shot("6c-before-drag");
  const isReorder = (v) => v.event === "queue_diff" && v.diff?.op === "reorder" && v.diff.id === c;
  // A drag is a gesture, not a click: if the page re-rendered under the pointer mid-gesture (the
  // room's events keep arriving), the gesture is made again, up to three times.
  for (let attempt = 0; attempt < 3 && !ann.lines.some(isReorder); attempt++) {
    const handle = await browser.$(`[data-action="reorder"][data-track-id="${c}"]`);
    const above = await browser.$(`[data-testid="queue-item"][data-track-id="${b}"]`);
    const { height } = await above.getSize();
    await browser
      .action("pointer", { parameters: { pointerType: "mouse" } })
      .move({ origin: handle })
      .down({ button: 0 })
      .pause(50)
      .move({ origin: handle, y: -8, duration: 100 })
      .move({ origin: above, y: -Math.floor(height / 2) + 3, duration: 300 })
      .pause(50)
      .up({ button: 0 })
      .perform();
    await browser.releaseActions().catch(() => {});
    await browser.waitUntil(async () => ann.lines.some(isReorder), { timeout: 4_000 }).catch(() => {});
  }
  const moved = await line(ann, isReorder, "the reorder at the CLI");
  assert.ok(moved.diff.to < moved.diff.from, JSON.stringify(moved.diff));
  await until("Tune C above Tune B in the app", async () => {
    const q = await texts("queue-item");
    return q.findIndex((t) => t.includes("Tune C")) < q.findIndex((t) => t.includes("Tune B"));
  });
  await shot("6c-reordered");
  await stop(ann);
});

test("the app joins a CLI host's room, shows reconnecting while the host is down, and is whole again after", async () => {
  const dir = join(work, "cli-host");
  const port = await freePort();
  const hostArgs = ["host", "--listen", `127.0.0.1:${port}`, "--data-dir", dir, tone(join(work, "Host Song.wav"), 30, 440)];
  let host = start(CLI, hostArgs);
  const ready = await line(host, (v) => v.event === "ready", "the host's ready line");
  const chat = await run(["send", ready.invite, "--data-dir", join(work, "bob"), "chat", "before the outage"]);
  assert.equal(chat.code, 0, chat.err);

  await (await $("leave")).click().catch(() => {});
  await (await $("join-invite")).waitForDisplayed({ timeout: WAIT });
  await (await $("join-invite")).setValue(ready.invite);
  await (await $("join-start")).click();
  await until("the host's track", async () => (await texts("queue-item")).some((t) => t.includes("Host Song")));
  await shot("7-joined-cli-host");

  await stop(host, "SIGKILL");
  await until("the reconnecting banner", async () => (await texts("banner")).some((t) => t.includes("Reconnecting")));
  await shot("8-host-down");

  host = start(CLI, hostArgs);
  await line(host, (v) => v.event === "ready", "the restarted host");
  await until("the banner gone and the room whole", async () => {
    const banner = (await texts("banner")).join(" ");
    const chat = await texts("chat-line");
    const queue = await texts("queue-item");
    return !banner.includes("Reconnecting") && chat.some((t) => t.includes("before the outage")) && queue.some((t) => t.includes("Host Song"));
  });
  await shot("9-host-back");

  // The host ends the room (SIGTERM closes it for everyone): the app says so instead of retrying.
  await stop(host);
  await until("the room-ended screen", async () => (await texts("room-ended")).some((t) => t.includes("Room ended")));
  await shot("10-room-ended");
});

/** The child's exit code, or an error if it is still running after `ms`. */
function exited(child, ms, what) {
  return new Promise((ok, fail) => {
    if (child.exitCode !== null) return ok(child.exitCode);
    const timer = setTimeout(() => fail(new Error(`${what} still running after ${ms} ms`)), ms);
    child.once("exit", (code) => (clearTimeout(timer), ok(code)));
  });
}

test("an invite link opened while the app runs is followed by the running app, not a second one", async () => {
  await (await browser.$('[data-action="back-to-start"]')).click();
  await (await $("join-invite")).waitForDisplayed({ timeout: WAIT });
  const port = await freePort();
  const host = start(CLI, ["host", "--listen", `127.0.0.1:${port}`, "--data-dir", join(work, "link-host"), tone(join(work, "Link Song.wav"), 30, 550)]);
  const ready = await line(host, (v) => v.event === "ready", "the host's ready line");
  // The desktop opens a link by starting the app with it; this second start hands the link to the
  // running app over the session bus and exits.
  const second = start(APP, [ready.invite], { WHATSSOUND_DATA_DIR: join(work, "app"), WHATSSOUND_OUTPUT: "null" });
  assert.equal(await exited(second, WAIT, "the second start"), 0);
  await until("the linked room in the running app", async () => (await texts("queue-item")).some((t) => t.includes("Link Song")));
  await shot("11-link-followed");
  await stop(host);
});
