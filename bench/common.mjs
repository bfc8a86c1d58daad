// Shared by the coordinator (hub-load.mjs) and the subscriber workers (subscribers.mjs):
// the one clock every process reads, the phoenix.js socket factory, and /proc readers.

import { readFileSync } from "node:fs"
import { execFileSync } from "node:child_process"
import { performance } from "node:perf_hooks"
import { Socket } from "phoenix"
import WebSocket from "ws"

/** Every subscriber and the sender join this one topic: the hub's worst case is one big fan-out. */
export const TOPIC = "realtime:bench"

// ---------------------------------------------------------------------------------------------
// One clock for every process.
//
// Latency is (receive time, in a worker process) − (send time, stamped by the coordinator), so
// both must read the same clock with sub-millisecond precision. Date.now() has only ms
// resolution. performance.now() is fine-grained but its zero is each process's own start, and
// performance.timeOrigin maps that zero to the wall clock only to within the accuracy of one
// wall-clock sample taken at start-up. process.hrtime reads CLOCK_MONOTONIC, which on Linux is
// one system-wide clock: readings from different processes are directly comparable.
//
// hrtime.bigint() allocates a BigInt per call, which adds up at a million deliveries, so once
// per process we find the offset between hrtime and performance.now() (both CLOCK_MONOTONIC
// based) and afterwards read the cheap float clock. The offset is taken from the best of a few
// samples (the one whose two performance.now() readings bracket the hrtime reading most
// tightly), so it is good to well under a microsecond.
function calibrate() {
  let best = { width: Infinity, offset: 0 }
  for (let i = 0; i < 20; i++) {
    const before = performance.now()
    const hr = Number(process.hrtime.bigint() / 1000n) / 1000 // µs → ms; exact below 2^53 µs
    const after = performance.now()
    if (after - before < best.width) best = { width: after - before, offset: hr - (before + after) / 2 }
  }
  return best.offset
}
const CLOCK_OFFSET_MS = calibrate()

/** Milliseconds on CLOCK_MONOTONIC (fractional, sub-µs): comparable across processes. */
export const nowMs = () => CLOCK_OFFSET_MS + performance.now()

// ---------------------------------------------------------------------------------------------
// phoenix.js

/**
 * A phoenix.js Socket to the hub's Phoenix endpoint (`${ws}/socket`; phoenix.js appends
 * `/websocket`), not yet connected.
 */
export function phoenixSocket(wsUrl, { timeoutMs = 30_000, token = null } = {}) {
  const socket = new Socket(`${wsUrl}/socket`, {
    // A hub started with --token checks it at join; the query `token` covers every join.
    params: token ? { token } : {},
    // Node 20 has no global WebSocket: without an explicit transport phoenix.js silently falls
    // back to LongPoll (which this hub does not serve), so the `ws` package is passed in.
    transport: WebSocket,
    // The serializer the hub's JSON v2 arrays speak; also phoenix.js's default, stated for clarity.
    vsn: "2.0.0",
    // Join/push reply timeout. 5,000 joins on a 2-core machine can queue for longer than the
    // default 10 s; a timed-out join is retried by phoenix.js anyway, this only avoids the churn.
    timeout: timeoutMs,
    // The default, stated because it matters: the hub closes a socket that sends nothing for
    // --idle-timeout-secs (60 s by default). Subscribers only receive, so this heartbeat is what
    // keeps them alive through long runs.
    heartbeatIntervalMs: 30_000,
  })
  if (socket.transport !== WebSocket) throw new Error("phoenix.js did not take the ws transport")
  return socket
}

// ---------------------------------------------------------------------------------------------
// /proc readers (Linux only), for the hub's memory and CPU.

/** VmRSS and VmHWM (peak RSS) of a process, in KiB. */
export function memoryKiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  const field = (name) => {
    const m = status.match(new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, "m"))
    return m ? Number(m[1]) : NaN
  }
  return { rss: field("VmRSS"), hwm: field("VmHWM") }
}

let clockTicks
function clockTicksPerSecond() {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
    } catch {
      clockTicks = 100 // USER_HZ is 100 on every mainstream Linux
    }
  }
  return clockTicks
}

/** User + system CPU seconds a process has used so far (/proc/PID/stat utime + stime). */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
  // Field 2 (comm) is in parentheses and may hold spaces: split after its closing one.
  // What follows starts at field 3 (state), so utime (14) and stime (15) are at 11 and 12.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(rest[11]) + Number(rest[12])) / clockTicksPerSecond()
}

/** The soft limit on open files of a process ("self" for this one). */
export function openFileLimit(pid = "self") {
  const limits = readFileSync(`/proc/${pid}/limits`, "utf8")
  const m = limits.match(/^Max open files\s+(\S+)/m)
  return !m || m[1] === "unlimited" ? Infinity : Number(m[1])
}

/** process.cpuUsage() as seconds (user + system). */
export function ownCpuSeconds() {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1e6
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
