// A subscriber worker, forked by hub-load.mjs: it owns its share of the N subscriber sockets,
// records what each receives, and answers the coordinator's requests over the IPC channel.
//
// Subscribers are spread over several processes because phoenix.js decoding 1,000–5,000 sockets'
// worth of frames is CPU-heavy: in one process the client's own event-loop backlog would show up
// as hub latency. Latencies are stamped with the shared CLOCK_MONOTONIC clock (common.mjs).
//
// Requests (from the coordinator): {id, cmd, ...}; replies: {id, result} or {id, error}.
//   ping   → answers once loaded
//   start  {ws, token, count, messages, concurrency, joinDeadlineMs, timeoutMs} → join all, report counts
//   mark   → CPU used so far; starts the run-phase progress reports and event-loop monitor
//   report → delivery counts and the latency samples (a Float64Array; IPC uses "advanced"
//            serialization, so it travels as binary rather than as a 1,000,000-number JSON array)
//   stop   → disconnect every socket (close frames) and exit
// Unsolicited: {type: "progress", unique, deliveries, lastRecvMs} every 250 ms during the run.
//
// Logs go to stderr only: the coordinator's stdout carries the results.

import { monitorEventLoopDelay } from "node:perf_hooks"
import { TOPIC, nowMs, ownCpuSeconds, phoenixSocket, sleep } from "./common.mjs"

const sockets = []
let messages = 0 // M: seqs run 0..M-1
let seen // Uint8Array(count × M): first delivery of (subscriber, seq) seen yet?
let maxSeq // Int32Array(count): highest seq each subscriber has received
let latencies // Float64Array(count × M): one sample per first delivery
const c = {
  joined: 0,
  joinFailed: 0,
  joinTimeouts: 0, // phoenix.js retries a timed-out join itself; this counts the retries
  rejoins: 0, // a joined channel that joined again (after a socket drop): should stay 0
  socketCloses: 0, // sockets that closed while we were not stopping: should stay 0
  socketErrors: 0,
  channelErrors: 0,
  deliveries: 0, // every broadcast received, duplicates included
  unique: 0,
  duplicates: 0,
  outOfOrder: 0, // a seq below one this subscriber already had
  stray: 0, // a broadcast that is not ours (no valid seq): should stay 0
  firstRecvMs: null,
  lastRecvMs: null,
}
let firstJoinError = null
let stopping = false
let loopDelay = null
const LOOP_RESOLUTION_MS = 10

function onBroadcast(k, msg) {
  const now = nowMs()
  // phoenix.js hands channel.on("broadcast") the whole pushed object: {type, event, payload}.
  const p = msg && msg.payload
  const seq = p && p.seq
  if (!Number.isInteger(seq) || seq < 0 || seq >= messages) {
    c.stray++
    return
  }
  c.deliveries++
  const i = k * messages + seq
  if (seen[i]) {
    c.duplicates++
    return
  }
  seen[i] = 1
  if (seq < maxSeq[k]) c.outOfOrder++
  else maxSeq[k] = seq
  latencies[c.unique++] = now - p.t
  if (c.firstRecvMs === null) c.firstRecvMs = now
  c.lastRecvMs = now
}

/** Connects subscriber k and joins the topic; resolves true once joined, false if refused. */
function joinOne(k, ws, token, timeoutMs, deadline) {
  return new Promise((resolve) => {
    const socket = phoenixSocket(ws, { timeoutMs, token })
    sockets[k] = socket
    socket.onClose(() => {
      if (!stopping) c.socketCloses++
    })
    socket.onError(() => {
      if (!stopping) c.socketErrors++
    })
    socket.connect()
    const channel = socket.channel(TOPIC, {})
    channel.on("broadcast", (msg) => onBroadcast(k, msg))
    channel.onError(() => {
      if (!stopping) c.channelErrors++
    })
    let joined = false
    let settled = false
    const settle = (ok) => {
      if (settled) return
      settled = true
      clearTimeout(giveUp)
      if (!ok) socket.disconnect() // stop phoenix.js retrying a join we no longer count
      resolve(ok)
    }
    // Past the deadline the subscriber counts as failed (and is not expected to receive).
    const giveUp = setTimeout(() => settle(false), Math.max(0, deadline - Date.now()))
    channel
      .join()
      // The join push's hooks fire again on every automatic rejoin after a drop.
      .receive("ok", () => {
        if (joined) c.rejoins++
        joined = true
        settle(true)
      })
      .receive("error", (reason) => {
        firstJoinError ??= reason
        settle(false)
      })
      .receive("timeout", () => c.joinTimeouts++)
  })
}

async function start({ ws, token, count, messages: m, concurrency, joinDeadlineMs, timeoutMs }) {
  const cpu0 = ownCpuSeconds()
  messages = m
  seen = new Uint8Array(count * m)
  maxSeq = new Int32Array(count).fill(-1)
  latencies = new Float64Array(count * m)
  const deadline = Date.now() + joinDeadlineMs
  // A bounded number of joins in flight: opening thousands of TCP connections at once would
  // overflow the hub's accept backlog and turn into SYN retransmits (1 s, 3 s, …), which measures
  // the kernel, not the hub.
  let next = 0
  const lane = async () => {
    while (next < count) {
      const k = next++
      if (await joinOne(k, ws, token, timeoutMs, deadline)) c.joined++
      else c.joinFailed++
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane))
  return { joined: c.joined, joinFailed: c.joinFailed, joinTimeouts: c.joinTimeouts, firstJoinError, joinCpuS: ownCpuSeconds() - cpu0 }
}

let progressTimer = null
function mark() {
  if (!loopDelay) {
    // How late this process's event loop ran: if it is large, latency includes client backlog.
    // The histogram records whole timer intervals, so LOOP_RESOLUTION_MS is subtracted below.
    loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS })
    loopDelay.enable()
    let last = -1
    progressTimer = setInterval(() => {
      if (c.deliveries === last) return
      last = c.deliveries
      process.send({ type: "progress", unique: c.unique, deliveries: c.deliveries, lastRecvMs: c.lastRecvMs })
    }, 250)
  }
  return { cpuS: ownCpuSeconds() }
}

function report() {
  clearInterval(progressTimer)
  let loop = null
  if (loopDelay) {
    loopDelay.disable()
    const late = (ns) => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS)
    loop = { p99Ms: late(loopDelay.percentile(99)), maxMs: late(loopDelay.max) }
  }
  // slice: send only the filled part (a subarray would still carry the whole buffer).
  return { ...c, firstJoinError, loop, cpuS: ownCpuSeconds(), latencies: latencies ? latencies.slice(0, c.unique) : new Float64Array(0) }
}

async function stop() {
  stopping = true
  clearInterval(progressTimer)
  const open = sockets.filter((s) => s && s.isConnected())
  // disconnect() sends a close frame and calls back once the socket has closed.
  await Promise.race([Promise.all(open.map((s) => new Promise((resolve) => s.disconnect(resolve)))), sleep(5_000)])
  for (const s of sockets) s && s.disconnect()
  return { closed: open.length }
}

// ping answers once this module (phoenix.js, ws) is loaded, so process start-up is not timed as joining.
const handlers = { ping: () => "pong", start, mark, report, stop }

process.on("message", async ({ id, cmd, ...args }) => {
  try {
    const result = await handlers[cmd](args)
    process.send({ id, result })
    if (cmd === "stop") process.disconnect() // closing IPC lets the process exit
  } catch (e) {
    process.send({ id, error: String(e && e.stack ? e.stack : e) })
  }
})

// If the coordinator dies, do not linger holding thousands of sockets.
process.on("disconnect", () => {
  stopping = true
  setTimeout(() => process.exit(0), 100)
})
