// Shared plumbing for the interop tests: start `whatssound-cli` on a free port, open the official
// clients against it, and clean every one of them up again.
//
// Each test calls `scope(t)` and opens hubs and clients through it; when the test ends the scope
// disconnects the clients first (so none of them starts a reconnect timer when the hub goes away)
// and then stops the hubs with SIGTERM and awaits their exit.

import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir, homedir } from 'node:os'
import { join as joinPath } from 'node:path'
import { createInterface } from 'node:readline'
import WebSocket from 'ws'
import { Socket as PhoenixSocket } from 'phoenix'
import { RealtimeClient } from '@supabase/realtime-js'

export { WebSocket }

/** How long one awaited step may take before the test fails with a message naming it. */
export const STEP_MS = 3000
/** How long we watch for something that must NOT arrive. Frames on loopback take well under 50 ms. */
export const QUIET_MS = 300

/**
 * The binary under test: $WHATSSOUND_CLI when set (and then only it, so a run never silently tests
 * another build), else $CARGO_TARGET_DIR's or the default target dir's (scripts/env.sh) debug build.
 */
export function cliPath() {
  const fromEnv = process.env.WHATSSOUND_CLI
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`WHATSSOUND_CLI=${fromEnv} does not exist; build it with \`cargo build --bin whatssound-cli\``)
    return fromEnv
  }
  const candidates = [
    process.env.CARGO_TARGET_DIR && joinPath(process.env.CARGO_TARGET_DIR, 'debug', 'whatssound-cli'),
    joinPath(homedir(), '.cache', 'whatssound', 'target', 'debug', 'whatssound-cli'),
  ].filter(Boolean)
  const found = candidates.find((p) => existsSync(p))
  if (!found) {
    throw new Error(`whatssound-cli not found (tried ${candidates.join(', ')}); build it with ` +
      '`cargo build --bin whatssound-cli`, or set WHATSSOUND_CLI to its path')
  }
  return found
}

/** Rejects with "timed out after N ms waiting for WHAT" unless `promise` settles first. */
export function withTimeout(promise, ms, what) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Starts `whatssound-cli <mode> --listen 127.0.0.1:0 ...args` and resolves with the parsed ready
 * line ({event:"ready", ws, ...}) plus `stop()`, once the first stdout line has arrived.
 */
export async function startCli(mode, args = []) {
  const child = spawn(cliPath(), [mode, '--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += d })
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  const lines = createInterface({ input: child.stdout })
  const stdout = []
  lines.on('line', (line) => stdout.push(line))
  const firstLine = new Promise((resolve, reject) => {
    lines.once('line', resolve)
    child.once('error', reject)
    exited.then(({ code, signal }) => reject(new Error(`whatssound-cli ${mode} exited (${code ?? signal}) before its ready line: ${stderr.trim()}`)))
  })
  let ready
  try {
    ready = JSON.parse(await withTimeout(firstLine, 5000, `the ready line of whatssound-cli ${mode}`))
  } catch (e) {
    child.kill('SIGKILL')
    throw e
  }
  if (ready.event !== 'ready' || !/^ws:\/\/127\.0\.0\.1:\d+$/.test(ready.ws)) {
    child.kill('SIGKILL')
    throw new Error(`unexpected ready line from whatssound-cli ${mode}: ${JSON.stringify(ready)}`)
  }
  // Resolves with {code, signal} once the process has exited (SIGKILL if SIGTERM is not enough).
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    try {
      return await withTimeout(exited, 5000, `whatssound-cli ${mode} to exit after SIGTERM`)
    } catch (e) {
      child.kill('SIGKILL')
      await exited
      throw e
    }
  }
  // stdout: every JSON line printed so far (the ready line first; "stopped" after a clean stop).
  return { ...ready, stop, stdout: () => stdout.map((l) => JSON.parse(l)), stderr: () => stderr }
}

/** An inbox that records everything a callback is given, and can wait for a matching entry. */
export class Inbox {
  constructor(name) {
    this.name = name
    this.items = []
    this.waiters = []
    this.push = this.push.bind(this)
  }

  push(item) {
    this.items.push(item)
    for (const w of [...this.waiters]) {
      if (w.match(item)) {
        this.waiters.splice(this.waiters.indexOf(w), 1)
        w.resolve(item)
      }
    }
  }

  /** The first entry (already here or still to come) for which `match` is true. */
  next(match = () => true, what = 'a message', ms = STEP_MS) {
    const found = this.items.find(match)
    if (found !== undefined) return Promise.resolve(found)
    const p = new Promise((resolve) => this.waiters.push({ match, resolve }))
    return withTimeout(p, ms, `${what} at ${this.name} (it got ${JSON.stringify(this.items).slice(0, 600)})`)
  }

  /** Waits QUIET_MS and returns every entry that matched (the caller asserts there are none). */
  async settle(match = () => true) {
    await sleep(QUIET_MS)
    return this.items.filter(match)
  }
}

/** Per-test owner of hubs and clients; everything opened through it is closed when the test ends. */
export function scope(t) {
  const clients = []
  const hubs = []
  const dirs = []
  t.after(async () => {
    for (const close of clients.reverse()) await close().catch(() => {})
    const exits = []
    for (const hub of hubs) exits.push(await hub.stop())
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
    // A hub that crashes or hangs on SIGTERM fails the test that ran it.
    for (const [i, exit] of exits.entries()) {
      if (exit.code !== 0) throw new Error(`whatssound-cli exited with ${JSON.stringify(exit)} on SIGTERM; stderr:\n${hubs[i].stderr()}`)
    }
  })
  return {
    /** A relay: `whatssound-cli hub` (optionally with --token, and any other flags). */
    async hub(token, args = []) {
      const hub = await startCli('hub', [...(token ? ['--token', token] : []), ...args])
      hubs.push(hub)
      return hub
    },
    /** One room: `whatssound-cli host --room ROOM` in a fresh data dir. */
    async host(room = 'r1') {
      const dir = mkdtempSync(joinPath(tmpdir(), 'whatssound-interop-'))
      dirs.push(dir)
      const host = await startCli('host', ['--data-dir', dir, '--room', room])
      hubs.push(host)
      return host
    },
    /** A connected phoenix.js socket on `${ws}/socket` (vsn 2.0.0, the client's default). */
    async phoenix(ws, params = {}, opts = {}) {
      const socket = new PhoenixSocket(`${ws}/socket`, {
        transport: WebSocket,
        params,
        // A test never wants a reconnect: a drop is a failure, and a timer would outlive the test.
        reconnectAfterMs: () => 60_000,
        ...opts,
      })
      clients.push(() => withTimeout(new Promise((resolve) => socket.disconnect(resolve)), STEP_MS, 'phoenix.js disconnect'))
      const opened = new Promise((resolve, reject) => {
        socket.onOpen(resolve)
        socket.onError((e) => reject(new Error(`phoenix.js socket error: ${e?.message ?? e}`)))
      })
      socket.connect()
      await withTimeout(opened, STEP_MS, `phoenix.js to connect to ${ws}/socket`)
      return socket
    },
    /** A realtime-js client on `${ws}/realtime/v1` with `apikey` (connected by its first subscribe). */
    realtime(ws, apikey = 'anon', opts = {}) {
      const client = new RealtimeClient(`${ws}/realtime/v1`, {
        params: { apikey },
        transport: WebSocket,
        reconnectAfterMs: () => 60_000,
        ...opts,
      })
      // disconnect() resolves once the socket is closed, but leaves a 10 s timer behind (hence
      // --test-force-exit in package.json).
      clients.push(() => withTimeout(client.disconnect(), STEP_MS, 'realtime-js disconnect'))
      return client
    },
    /** A raw `ws` socket on any URL, for wire-level checks; resolves once open. */
    async raw(url) {
      const raw = rawSocket(url)
      clients.push(async () => {
        if (raw.ws.readyState === WebSocket.CLOSED) return
        raw.ws.close()
        // A peer that does not answer the close (e.g. stuck writing to a paused reader) gets the
        // TCP connection torn down instead, so the hub is not left waiting on it.
        await withTimeout(raw.closed, 1000, 'a raw socket to close').catch(() => raw.ws.terminate())
        await withTimeout(raw.closed, STEP_MS, 'a raw socket to be torn down')
      })
      await withTimeout(raw.opened, STEP_MS, `a raw WebSocket to open ${url}`)
      return raw
    },
  }
}

/**
 * A raw socket: `frames` gets every message (text parsed as JSON — or kept as a string when it is
 * not JSON, which the assertions will then show — and binary as a Buffer).
 */
function rawSocket(url) {
  const ws = new WebSocket(url)
  const frames = new Inbox(`raw socket ${url}`)
  const parse = (text) => {
    try {
      return JSON.parse(text)
    } catch {
      return text
    }
  }
  ws.on('message', (data, isBinary) => frames.push(isBinary ? data : parse(data.toString())))
  const errors = []
  ws.on('error', (e) => errors.push(e)) // an 'error' with no listener would crash the test process
  const opened = new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  const closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  return { ws, frames, opened, closed, send: (m) => ws.send(typeof m === 'string' || Buffer.isBuffer(m) ? m : JSON.stringify(m)) }
}

/** Subscribes a realtime-js channel; resolves on SUBSCRIBED, rejects on any other first status. */
export function subscribe(channel, what = channel.topic) {
  const p = new Promise((resolve, reject) => {
    channel.subscribe((status, err) => {
      if (status === 'SUBSCRIBED') resolve(status)
      else reject(new Error(`realtime-js subscribe of ${what}: ${status} ${err?.message ?? ''}`))
    })
  })
  return withTimeout(p, STEP_MS, `realtime-js to subscribe ${what}`)
}

/** Joins a phoenix.js channel; resolves with the ok response, rejects with the error reply. */
export function join(channel) {
  const p = new Promise((resolve, reject) => {
    channel.join()
      .receive('ok', resolve)
      .receive('error', (resp) => reject(new Error(`phoenix.js join of ${channel.topic} refused: ${JSON.stringify(resp)}`)))
      .receive('timeout', () => reject(new Error(`phoenix.js join of ${channel.topic} timed out`)))
  })
  return withTimeout(p, STEP_MS, `phoenix.js to join ${channel.topic}`)
}

/** Pushes on a phoenix.js channel and resolves with {status, response} of the reply. */
export function pushReply(channel, event, payload) {
  const p = new Promise((resolve) => {
    channel.push(event, payload)
      .receive('ok', (response) => resolve({ status: 'ok', response }))
      .receive('error', (response) => resolve({ status: 'error', response }))
      .receive('timeout', () => resolve({ status: 'timeout' }))
  })
  return withTimeout(p, STEP_MS, `the reply to ${event} on ${channel.topic}`)
}

/** Sends a broadcast from phoenix.js the way Supabase's wire protocol expects. */
export function phxBroadcast(channel, event, payload) {
  return channel.push('broadcast', { type: 'broadcast', event, payload })
}

/** A vsn 2.0.0 text frame `[join_ref, ref, topic, event, payload]` as an object (binary frames pass through). */
export function v2(frame) {
  if (!Array.isArray(frame)) return frame
  const [join_ref, ref, topic, event, payload] = frame
  return { join_ref, ref, topic, event, payload }
}

/** A realtime-js channel with a '*' broadcast listener feeding a fresh inbox: [channel, inbox]. */
export function rtChannel(client, name, config = {}, label = name) {
  const inbox = new Inbox(`realtime-js ${label}`)
  const channel = client.channel(name, { config }).on('broadcast', { event: '*' }, inbox.push)
  return [channel, inbox]
}

/** A phoenix.js channel with a broadcast listener feeding a fresh inbox: [channel, inbox]. */
export function phxChannel(socket, topic, params = {}, label = topic) {
  const inbox = new Inbox(`phoenix.js ${label}`)
  const channel = socket.channel(topic, params)
  channel.on('broadcast', inbox.push)
  return [channel, inbox]
}
