#!/usr/bin/env node
// Load generator for the WhatsSound realtime hub, driving the official phoenix.js client.
//
// N subscriber sockets (one phoenix.js Socket each, vsn 2.0.0, spread over K worker processes)
// join `realtime:bench`; once all have joined, one sender socket in this process joins the same
// topic and pushes M broadcasts at R per second, each stamped with its send time. Subscribers
// record latency (receive − send, on the machine-wide monotonic clock) and sequence numbers.
// With --idle only the joins happen, to measure the hub's memory per idle socket.
//
//   node hub-load.mjs --subscribers 100 --messages 200 --rate 50
//   node hub-load.mjs --subscribers 5000 --idle
//   node hub-load.mjs --hub-pid 1234 --ws ws://127.0.0.1:4000 --subscribers 200 --messages 1000 --rate 100
//
// Without --hub-pid it starts `$WHATSSOUND_CLI hub --listen 127.0.0.1:0 --max-messages-per-sec 100000`
// itself (so the sender is not rate limited), and stops it with SIGTERM at the end.
// Prints a human-readable summary, then one JSON line (the last line on stdout).
// Progress and the hub's own logs go to stderr. See README.md.

import { fork, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { homedir } from "node:os"
import { createInterface } from "node:readline"
import { parseArgs } from "node:util"
import {
  TOPIC,
  cpuSeconds,
  memoryKiB,
  nowMs,
  openFileLimit,
  ownCpuSeconds,
  phoenixSocket,
  sleep,
} from "./common.mjs"

const USAGE = `usage: node hub-load.mjs [options]
  --subscribers N        subscriber sockets (default 200)
  --messages M           broadcasts the sender pushes (default 1000)
  --rate R               broadcasts per second (default 100)
  --idle                 only join N sockets and measure the hub's memory (no messages)
  --workers K            subscriber processes (default: 1 up to 200 subscribers, else 2)
  --hub-pid PID          measure an already running hub (needs --ws); default: start one
  --ws URL               that hub's ws://host:port (as in its ready line)
  --token TOKEN          the token that hub was started with (--token), if any
  --label NAME           a name carried into the JSON line (run.sh uses the scenario letter)
  --join-concurrency C   joins in flight per worker (default 100)
  --join-deadline-secs S give up on joins not done after S seconds (default 180)
  --drain-secs S         after the last send, wait at most S seconds without progress (default 10)
  --settle-ms MS         pause before each RSS reading (default 1000)
  --hold-secs S          with --idle: keep the sockets S seconds before measuring (default 0)
  --verbose              forward the hub's stderr (warnings and up are always forwarded)
environment: WHATSSOUND_CLI (the whatssound-cli binary), CARGO_TARGET_DIR`

// ---------------------------------------------------------------------------------------------
// Options

function options() {
  let parsed
  try {
    parsed = parseArgs({
      options: {
        subscribers: { type: "string", default: "200" },
        messages: { type: "string", default: "1000" },
        rate: { type: "string", default: "100" },
        idle: { type: "boolean", default: false },
        workers: { type: "string" },
        "hub-pid": { type: "string" },
        ws: { type: "string" },
        token: { type: "string" },
        label: { type: "string" },
        "join-concurrency": { type: "string", default: "100" },
        "join-deadline-secs": { type: "string", default: "180" },
        "drain-secs": { type: "string", default: "10" },
        "settle-ms": { type: "string", default: "1000" },
        "hold-secs": { type: "string", default: "0" },
        verbose: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    }).values
  } catch (e) {
    usageError(e.message)
  }
  if (parsed.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const num = (name, { min = 0, integer = true } = {}) => {
    const v = Number(parsed[name])
    if (!Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) usageError(`--${name} must be ${integer ? "an integer" : "a number"} ≥ ${min}`)
    return v
  }
  const o = {
    subscribers: num("subscribers", { min: 1 }),
    messages: parsed.idle ? 0 : num("messages", { min: 1 }),
    rate: parsed.idle ? 0 : num("rate", { min: 0.001, integer: false }),
    idle: parsed.idle,
    hubPid: parsed["hub-pid"] === undefined ? null : num("hub-pid", { min: 1 }),
    ws: parsed.ws ?? null,
    token: parsed.token ?? null,
    label: parsed.label ?? null,
    joinConcurrency: num("join-concurrency", { min: 1 }),
    joinDeadlineMs: num("join-deadline-secs", { min: 1 }) * 1000,
    drainMs: num("drain-secs", { min: 0, integer: false }) * 1000,
    settleMs: num("settle-ms"),
    holdMs: num("hold-secs", { min: 0, integer: false }) * 1000,
    verbose: parsed.verbose,
  }
  o.workers = parsed.workers === undefined ? (o.subscribers <= 200 ? 1 : 2) : num("workers", { min: 1 })
  o.workers = Math.min(o.workers, o.subscribers)
  if ((o.hubPid === null) !== (o.ws === null)) usageError("--hub-pid and --ws go together")
  return o
}

function usageError(text) {
  console.error(`hub-load: ${text}\n${USAGE}`)
  process.exit(2)
}

const log = (text) => console.error(`[hub-load] ${text}`)

// ---------------------------------------------------------------------------------------------
// The hub process

function defaultBinary() {
  if (process.env.WHATSSOUND_CLI) return process.env.WHATSSOUND_CLI
  const target = process.env.CARGO_TARGET_DIR || `${homedir()}/.cache/whatssound/target`
  const release = `${target}/release/whatssound-cli`
  return existsSync(release) ? release : `${target}/debug/whatssound-cli`
}

/** Starts `whatssound-cli hub` on a free loopback port; resolves once its ready line is read. */
function startHub(binary, verbose) {
  if (!existsSync(binary)) throw new Error(`no whatssound-cli at ${binary}: build it (cargo build --release -p whatssound-cli) or set WHATSSOUND_CLI`)
  const args = ["hub", "--listen", "127.0.0.1:0", "--max-messages-per-sec", "100000"]
  // WHATSSOUND_LOG would make the hub log every frame at debug level: keep it at warnings unless asked.
  const env = { ...process.env, WHATSSOUND_LOG: verbose ? process.env.WHATSSOUND_LOG || "info" : "warn" }
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"], env })
  createInterface({ input: child.stderr }).on("line", (line) => console.error(`[hub] ${line}`))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the hub printed no ready line within 15 s")), 15_000)
    child.on("error", (e) => reject(new Error(`could not start ${binary}: ${e.message}`)))
    child.on("exit", (code, signal) => reject(new Error(`the hub exited before it was ready (code ${code}, signal ${signal})`)))
    const lines = createInterface({ input: child.stdout })
    lines.on("line", (line) => {
      let ready
      try {
        ready = JSON.parse(line)
      } catch {
        return console.error(`[hub stdout] ${line}`)
      }
      if (ready.event === "ready" && typeof ready.ws === "string") {
        clearTimeout(timer)
        resolve({ child, ws: ready.ws })
      }
    })
  })
}

/** SIGTERM, then wait for the exit (the hub sends every socket a close frame first). */
async function stopHub(child) {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once("exit", resolve))
  child.kill("SIGTERM")
  if ((await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)])) === false) {
    log(`the hub (pid ${child.pid}) did not exit 15 s after SIGTERM; sending SIGKILL`)
    child.kill("SIGKILL")
    await exited
  }
}

// ---------------------------------------------------------------------------------------------
// Subscriber workers

class Worker {
  constructor(index, onProgress) {
    this.index = index
    this.nextId = 1
    this.pending = new Map()
    this.progress = { unique: 0, deliveries: 0, lastRecvMs: null }
    // "advanced" serialization sends the latency Float64Array as binary, not as JSON numbers.
    this.child = fork(new URL("./subscribers.mjs", import.meta.url), [], {
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    })
    this.child.on("message", (msg) => {
      if (msg.type === "progress") {
        this.progress = msg
        onProgress()
        return
      }
      const p = this.pending.get(msg.id)
      if (!p) return
      this.pending.delete(msg.id)
      if (msg.error) p.reject(new Error(`worker ${index}: ${msg.error}`))
      else p.resolve(msg.result)
    })
    this.exited = new Promise((resolve) => this.child.once("exit", resolve))
    this.child.once("exit", (code, signal) => {
      for (const p of this.pending.values()) p.reject(new Error(`worker ${index} exited (code ${code}, signal ${signal})`))
      this.pending.clear()
    })
  }

  ask(cmd, args = {}) {
    return new Promise((resolve, reject) => {
      const id = this.nextId++
      this.pending.set(id, { resolve, reject })
      this.child.send({ id, cmd, ...args })
    })
  }

  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    try {
      await Promise.race([this.ask("stop"), sleep(10_000)])
    } catch {
      // already gone
    }
    if ((await Promise.race([this.exited.then(() => true), sleep(5_000).then(() => false)])) === false) {
      this.child.kill("SIGTERM")
      await this.exited
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Statistics

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted, p) {
  if (sorted.length === 0) return null
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
}

const round = (x, digits = 3) => (x === null || x === undefined || !Number.isFinite(x) ? x : Number(x.toFixed(digits)))
const mib = (kib) => (kib / 1024).toFixed(1)

function sumOf(list, key) {
  return list.reduce((s, x) => s + x[key], 0)
}

// ---------------------------------------------------------------------------------------------
// The run

/** Sends M broadcasts on a fixed schedule (message i is due at start + i/R), catching up if late. */
async function sendAll(channel, messages, rate) {
  const start = nowMs()
  const interval = 1000 / rate
  let maxLateMs = 0
  let seq = 0
  let refused = 0
  let firstRefusal = null
  while (seq < messages) {
    const now = nowMs()
    // Send everything due by now: a timer that fires late must not lower the offered rate.
    while (seq < messages && start + seq * interval <= now) {
      maxLateMs = Math.max(maxLateMs, now - (start + seq * interval))
      // `t` is read right before the push is encoded and written to the socket.
      // Without ack the hub replies only to refuse (e.g. its per-socket rate limit): count those.
      channel
        .push("broadcast", { type: "broadcast", event: "m", payload: { seq, t: nowMs() } })
        .receive("error", (e) => {
          refused++
          firstRefusal ??= e
        })
      seq++
    }
    if (seq < messages) await sleep(Math.max(0, start + seq * interval - nowMs()))
  }
  const lastSendMs = nowMs()
  // Refusals arrive after the sends: read them when the drain is over.
  return { sent: seq, firstSendMs: start, lastSendMs, maxLateMs, refusals: () => ({ refused, firstRefusal }) }
}

async function main() {
  const o = options()
  const cleanup = [] // run in reverse on the way out, whatever happens
  let interrupted = false
  const onSignal = (sig) => {
    if (interrupted) return
    interrupted = true
    log(`${sig}: stopping`)
    runCleanup(cleanup).finally(() => process.exit(130))
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)

  try {
    // Each subscriber is one fd in a worker and one in the hub: check before connecting thousands
    // and failing half way with EMFILE.
    const perWorker = Math.ceil(o.subscribers / o.workers)
    if (openFileLimit() < perWorker + 100) {
      throw new Error(`open-file limit ${openFileLimit()} is too low for ${perWorker} sockets per worker: raise it (ulimit -n 65536) or run bench/run.sh`)
    }

    // 1. The hub.
    let hubPid = o.hubPid
    let ws = o.ws
    let binary = null
    if (hubPid === null) {
      binary = defaultBinary()
      const hub = await startHub(binary, o.verbose)
      cleanup.push(() => stopHub(hub.child))
      hubPid = hub.child.pid
      ws = hub.ws
      log(`started hub pid ${hubPid} at ${ws} (${binary})`)
      if (binary.includes("/debug/")) log("this is a DEBUG build: figures are for checking the harness, not for publishing")
    }
    if (openFileLimit(hubPid) < o.subscribers + 100) {
      throw new Error(`the hub's open-file limit ${openFileLimit(hubPid)} is too low for ${o.subscribers} sockets: raise it (ulimit -n 65536) before starting it`)
    }

    // 2. The hub's memory before any socket.
    await sleep(o.settleMs)
    const memBefore = memoryKiB(hubPid)

    // 3. Join every subscriber.
    const workers = []
    const progress = { onChange: () => {} }
    for (let i = 0; i < o.workers; i++) workers.push(new Worker(i, () => progress.onChange()))
    cleanup.push(() => Promise.all(workers.map((w) => w.stop())))
    await Promise.all(workers.map((w) => w.ask("ping"))) // loaded: start-up is not join time
    const shares = workers.map((_, i) => Math.floor(o.subscribers / o.workers) + (i < o.subscribers % o.workers ? 1 : 0))
    log(`joining ${o.subscribers} subscribers to ${TOPIC} over ${o.workers} worker(s)…`)
    const joinT0 = nowMs()
    const hubCpuJoin0 = cpuSeconds(hubPid)
    const ownCpuJoin0 = ownCpuSeconds()
    const joins = await Promise.all(
      workers.map((w, i) =>
        w.ask("start", {
          ws,
          token: o.token,
          count: shares[i],
          messages: o.messages,
          concurrency: o.joinConcurrency,
          joinDeadlineMs: o.joinDeadlineMs,
          timeoutMs: 30_000,
        }),
      ),
    )
    const joinWallS = (nowMs() - joinT0) / 1000
    const joined = sumOf(joins, "joined")
    const joinFailed = sumOf(joins, "joinFailed")
    const join = {
      wall_s: round(joinWallS),
      per_s: round(joined / joinWallS, 1),
      hub_cpu_s: round(cpuSeconds(hubPid) - hubCpuJoin0),
      loadgen_cpu_s: round(ownCpuSeconds() - ownCpuJoin0 + sumOf(joins, "joinCpuS")),
    }
    log(`joined ${joined}/${o.subscribers} in ${joinWallS.toFixed(2)} s${joinFailed ? `, ${joinFailed} failed` : ""}`)
    if (joinFailed) log(`first join refusal: ${JSON.stringify(joins.find((j) => j.firstJoinError)?.firstJoinError ?? "timed out")}`)

    // 4. The hub's memory with every subscriber joined and idle.
    if (o.idle && o.holdMs) {
      log(`holding ${o.subscribers} idle sockets for ${o.holdMs / 1000} s`)
      await sleep(o.holdMs)
    }
    await sleep(o.settleMs)
    const memJoined = memoryKiB(hubPid)

    // 5. The broadcasts.
    let run = null
    let reports = null // the workers' final reports, once asked for
    if (!o.idle) {
      const sender = phoenixSocket(ws, { token: o.token })
      cleanup.push(() => new Promise((resolve) => sender.disconnect(resolve)))
      sender.connect()
      const channel = sender.channel(TOPIC, {})
      await new Promise((resolve, reject) => {
        channel
          .join()
          .receive("ok", resolve)
          .receive("error", (e) => reject(new Error(`the sender's join was refused: ${JSON.stringify(e)}`)))
          .receive("timeout", () => reject(new Error("the sender's join timed out")))
      })
      const expected = joined * o.messages
      const marks = await Promise.all(workers.map((w) => w.ask("mark")))
      const hubCpu0 = cpuSeconds(hubPid)
      const ownCpu0 = ownCpuSeconds()
      const runT0 = nowMs()
      log(`sending ${o.messages} broadcasts at ${o.rate}/s to ${joined} subscribers (${expected} deliveries expected)…`)

      // Progress on stderr, and the end of the drain: everything delivered, or no progress for
      // --drain-secs after the last send.
      let lastChange = nowMs()
      let delivered = 0
      let sendingDone = false
      let resolveDrained
      const drained = new Promise((resolve) => (resolveDrained = resolve))
      progress.onChange = () => {
        const now = sumOf(workers.map((w) => w.progress), "unique")
        if (now !== delivered) lastChange = nowMs()
        delivered = now
        if (delivered >= expected) resolveDrained("complete")
      }
      const ticker = setInterval(() => {
        log(`delivered ${delivered}/${expected}`)
        if (sendingDone && nowMs() - lastChange > o.drainMs) resolveDrained("stalled")
      }, 1000)
      const send = await sendAll(channel, o.messages, o.rate)
      sendingDone = true
      lastChange = Math.max(lastChange, nowMs())
      const drainOutcome = expected === 0 ? "complete" : await drained
      clearInterval(ticker)
      const runWallS = (nowMs() - runT0) / 1000
      const hubCpuRun = cpuSeconds(hubPid) - hubCpu0
      const ownCpuRun = ownCpuSeconds() - ownCpu0
      reports = await Promise.all(workers.map((w) => w.ask("report")))
      const memAfterRun = memoryKiB(hubPid)
      const workersCpuRun = reports.reduce((s, r, i) => s + r.cpuS - marks[i].cpuS, 0)

      // All latency samples, merged and sorted: exact percentiles (1,000,000 doubles sort in ~0.1 s).
      const all = new Float64Array(sumOf(reports, "unique"))
      let at = 0
      for (const r of reports) {
        all.set(r.latencies, at)
        at += r.latencies.length
      }
      all.sort()
      const lastRecvMs = Math.max(...reports.map((r) => r.lastRecvMs ?? -Infinity))
      const deliverySpanS = Number.isFinite(lastRecvMs) ? (lastRecvMs - send.firstSendMs) / 1000 : null
      const unique = all.length
      run = {
        expected,
        delivered: unique,
        missing: expected - unique,
        deliveries_total: sumOf(reports, "deliveries"),
        duplicates: sumOf(reports, "duplicates"),
        out_of_order: sumOf(reports, "outOfOrder"),
        stray: sumOf(reports, "stray"),
        drain: drainOutcome,
        latency_ms: {
          p50: round(percentile(all, 50)),
          p95: round(percentile(all, 95)),
          p99: round(percentile(all, 99)),
          max: round(all.length ? all[all.length - 1] : null),
          min: round(all.length ? all[0] : null),
        },
        deliveries_per_s: deliverySpanS ? round(unique / deliverySpanS, 1) : null,
        delivery_span_s: round(deliverySpanS),
        sender: {
          sent: send.sent,
          seconds: round((send.lastSendMs - send.firstSendMs) / 1000),
          rate_per_s: round(send.sent > 1 ? (send.sent - 1) / ((send.lastSendMs - send.firstSendMs) / 1000) : send.sent, 2),
          max_late_ms: round(send.maxLateMs),
          refused: send.refusals().refused,
          first_refusal: send.refusals().firstRefusal,
        },
        wall_s: round(runWallS),
        hub_cpu_s: round(hubCpuRun),
        loadgen_cpu_s: round(ownCpuRun + workersCpuRun),
        hub_rss_after_run_kib: memAfterRun.rss,
      }
    }
    // In idle mode the sockets' health is all there is to report (e.g. after --hold-secs 70,
    // that no socket was closed for idleness: phoenix.js heartbeats every 30 s).
    const client = clientHealth(reports ?? (await Promise.all(workers.map((w) => w.ask("report")))))

    // 6. Report.
    const memAfter = memoryKiB(hubPid)
    const result = {
      bench: "hub-load",
      label: o.label,
      mode: o.idle ? "idle" : "broadcast",
      subscribers: o.subscribers,
      messages: o.messages,
      rate: o.rate,
      workers: o.workers,
      hub: { pid: hubPid, started_by_bench: binary !== null, binary, debug_build: binary ? binary.includes("/debug/") : null },
      joined,
      join_failed: joinFailed,
      join_timeouts: sumOf(joins, "joinTimeouts"),
      join,
      hub_rss_kib: {
        before: memBefore.rss,
        joined: memJoined.rss,
        peak: memAfter.hwm,
        per_idle_socket: joined ? round((memJoined.rss - memBefore.rss) / joined, 2) : null,
      },
      client,
      run,
    }
    console.log(summary(result))
    console.log(JSON.stringify(result))
    const healthy = client.socket_closes === 0 && client.rejoins === 0
    const clean =
      healthy &&
      joinFailed === 0 && (!run || (run.missing === 0 && run.duplicates === 0 && run.out_of_order === 0 && run.stray === 0 && run.sender.refused === 0))
    process.exitCode = clean ? 0 : 1
  } finally {
    if (!interrupted) await runCleanup(cleanup)
  }
}

async function runCleanup(steps) {
  while (steps.length) {
    try {
      await steps.pop()()
    } catch (e) {
      log(`cleanup: ${e.message}`)
    }
  }
}

/** What the subscriber sockets went through; every count but the event-loop delay should be 0. */
function clientHealth(reports) {
  const loops = reports.map((r) => r.loop).filter(Boolean)
  return {
    // Worker event-loop delay (run phase): when large, latency includes the client's own backlog.
    event_loop_p99_ms: loops.length ? round(Math.max(...loops.map((l) => l.p99Ms))) : null,
    event_loop_max_ms: loops.length ? round(Math.max(...loops.map((l) => l.maxMs))) : null,
    socket_closes: sumOf(reports, "socketCloses"),
    socket_errors: sumOf(reports, "socketErrors"),
    channel_errors: sumOf(reports, "channelErrors"),
    rejoins: sumOf(reports, "rejoins"),
  }
}

function summary(r) {
  const lines = []
  const what = r.run ? `${r.subscribers} subscribers × ${r.messages} messages at ${r.rate}/s` : `${r.subscribers} idle sockets`
  lines.push(`hub-load${r.label ? ` [${r.label}]` : ""}: ${what}, ${r.workers} worker process(es), hub pid ${r.hub.pid}${r.hub.debug_build ? " (DEBUG build)" : ""}`)
  lines.push(`  joined       ${r.joined}/${r.subscribers} in ${r.join.wall_s} s (${r.join.per_s}/s), ${r.join_failed} failed, ${r.join_timeouts} join timeouts`)
  const m = r.hub_rss_kib
  lines.push(`  hub RSS      before ${mib(m.before)} MiB, all joined ${mib(m.joined)} MiB → ${m.per_idle_socket} KiB per idle socket; peak ${mib(m.peak)} MiB`)
  lines.push(`  join CPU     hub ${r.join.hub_cpu_s} s, load generator ${r.join.loadgen_cpu_s} s`)
  if (r.run) {
    const x = r.run
    const pct = x.expected ? ((100 * x.delivered) / x.expected).toFixed(3) : "100"
    lines.push(`  delivered    ${x.delivered}/${x.expected} (${pct}%), ${x.missing} missing, ${x.duplicates} duplicates, ${x.out_of_order} out of order${x.stray ? `, ${x.stray} stray` : ""} (drain: ${x.drain})`)
    const l = x.latency_ms
    lines.push(`  latency ms   p50 ${l.p50}  p95 ${l.p95}  p99 ${l.p99}  max ${l.max}`)
    lines.push(`  throughput   ${x.deliveries_per_s} deliveries/s over ${x.delivery_span_s} s; sender ${x.sender.sent} sent at ${x.sender.rate_per_s}/s (max ${x.sender.max_late_ms} ms late)${x.sender.refused ? `, ${x.sender.refused} REFUSED by the hub: ${JSON.stringify(x.sender.first_refusal)}` : ""}`)
    const core = (s) => `${((100 * s) / x.wall_s).toFixed(1)}% of a core`
    lines.push(`  run CPU      hub ${x.hub_cpu_s} s (${core(x.hub_cpu_s)}), load generator ${x.loadgen_cpu_s} s (${core(x.loadgen_cpu_s)}) over ${x.wall_s} s`)
  }
  const c = r.client
  const loop = c.event_loop_p99_ms === null ? "" : `event-loop delay p99 ${c.event_loop_p99_ms} ms, max ${c.event_loop_max_ms} ms; `
  lines.push(`  client       ${loop}${c.socket_closes} socket closes, ${c.socket_errors} errors, ${c.channel_errors} channel errors, ${c.rejoins} rejoins`)
  return lines.join("\n")
}

main()
  .catch((e) => {
    console.error(`hub-load: ${e.message}`)
    process.exitCode = 1
  })
  // Everything we started is stopped by now; phoenix.js may still hold push-timeout timers for
  // the sender's unacknowledged broadcasts, which would keep Node alive for no purpose.
  // (stdout is a pipe or file here, and those writes are synchronous on Linux: nothing is lost.)
  .finally(() => process.exit())
