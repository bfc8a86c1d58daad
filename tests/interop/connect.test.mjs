// 1. Connect, join and heartbeat: the first thing every official client does, and what keeps its
// socket alive (clients send a heartbeat every 25–30 s and give up on the socket without a reply).

import test from 'node:test'
import assert from 'node:assert/strict'
import { scope, subscribe, join, withTimeout, Inbox, STEP_MS } from './helpers.mjs'

test('phoenix.js connects, joins and gets an ok reply to its heartbeat', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  const socket = await s.phoenix(hub.ws)
  assert.match(socket.endPointURL(), /\/socket\/websocket\?vsn=2\.0\.0$/, 'phoenix.js speaks vsn 2.0.0 on /socket/websocket')

  const channel = socket.channel('realtime:lobby')
  assert.deepEqual(await join(channel), {}, 'the join reply response is {}')
  assert.equal(channel.state, 'joined')

  // socket.ping sends a heartbeat on topic "phoenix" and calls back when the reply with its ref arrives.
  const seen = new Inbox('phoenix.js socket')
  socket.onMessage(seen.push)
  const latency = await withTimeout(new Promise((resolve) => assert.ok(socket.ping(resolve))), STEP_MS, 'the heartbeat reply')
  assert.ok(latency >= 0)
  const reply = await seen.next((m) => m.topic === 'phoenix', 'the heartbeat reply')
  assert.equal(reply.event, 'phx_reply')
  assert.deepEqual(reply.payload, { status: 'ok', response: {} })
})

test('realtime-js connects, subscribes and its heartbeat callback reports ok', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  const beats = new Inbox('realtime-js heartbeat callback')
  const client = s.realtime(hub.ws, 'anon', { heartbeatCallback: (status) => beats.push(status) })
  assert.match(client.endpointURL(), /\/realtime\/v1\/websocket\?apikey=anon&vsn=2\.0\.0$/)

  const channel = client.channel('lobby')
  assert.equal(await subscribe(channel), 'SUBSCRIBED')
  assert.equal(channel.topic, 'realtime:lobby')
  assert.ok(client.isConnected())

  await client.sendHeartbeat()
  await beats.next((b) => b === 'sent', 'the heartbeat to be sent')
  await beats.next((b) => b === 'ok', 'the heartbeat to be answered ok')
  assert.deepEqual(beats.items.filter((b) => b !== 'sent' && b !== 'ok'), [], 'no error or timeout status')
})

test('raw heartbeats get the exact Phoenix reply in both vsn 2.0.0 and vsn 1.0.0', async (t) => {
  const s = scope(t)
  const hub = await s.hub()

  const v2 = await s.raw(`${hub.ws}/socket/websocket?vsn=2.0.0`)
  v2.send('[null,"26","phoenix","heartbeat",{}]')
  assert.deepEqual(await v2.frames.next(), [null, '26', 'phoenix', 'phx_reply', { status: 'ok', response: {} }])

  const v1 = await s.raw(`${hub.ws}/socket/websocket?vsn=1.0.0`)
  v1.send({ topic: 'phoenix', event: 'heartbeat', payload: {}, ref: '7' })
  assert.deepEqual(await v1.frames.next(), { topic: 'phoenix', event: 'phx_reply', payload: { status: 'ok', response: {} }, ref: '7' })
})

test('SIGTERM closes every socket with 1001 and the CLI exits 0 after a "stopped" line', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  const socket = await s.phoenix(hub.ws)
  await join(socket.channel('realtime:lobby'))
  const closes = new Inbox('phoenix.js onClose')
  socket.onClose(closes.push)
  const raw = await s.raw(`${hub.ws}/realtime/v1/websocket?apikey=anon&vsn=2.0.0`)

  assert.deepEqual(await hub.stop(), { code: 0, signal: null })
  assert.deepEqual(await withTimeout(raw.closed, STEP_MS, 'the raw socket close'), { code: 1001, reason: 'server shutting down' })
  assert.equal((await closes.next(() => true, 'phoenix.js to see the close')).code, 1001)
  assert.deepEqual(hub.stdout().map((l) => l.event), ['ready', 'stopped'])
})

test('heartbeats keep realtime-js and phoenix.js alive past --idle-timeout-secs; a silent socket is closed', async (t) => {
  const s = scope(t)
  const hub = await s.hub(undefined, ['--idle-timeout-secs', '1'])
  const silent = await s.raw(`${hub.ws}/socket/websocket?vsn=2.0.0`)
  const client = s.realtime(hub.ws, 'anon', { heartbeatIntervalMs: 300 })
  const channel = client.channel('lobby')
  await subscribe(channel)
  const socket = await s.phoenix(hub.ws, {}, { heartbeatIntervalMs: 300 })
  await join(socket.channel('realtime:lobby'))

  const { code, reason } = await withTimeout(silent.closed, 2500, 'the idle raw socket to be closed')
  assert.equal(code, 1000)
  assert.match(reason, /^idle/)
  await new Promise((resolve) => setTimeout(resolve, 800)) // well past the 1 s limit for the clients
  assert.ok(client.isConnected() && channel.state === 'joined', 'realtime-js is still connected and joined')
  assert.ok(socket.isConnected(), 'phoenix.js is still connected')
})
