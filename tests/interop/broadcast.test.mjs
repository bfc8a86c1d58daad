// 2. Broadcast: the `self` and `ack` options of realtime-js, and broadcasts crossing between the
// phoenix.js endpoint (/socket, JSON text frames) and the realtime-js endpoint (/realtime/v1, which
// sends binary kind 3 and reads binary kind 4).

import test from 'node:test'
import assert from 'node:assert/strict'
import { scope, subscribe, join, rtChannel, phxChannel, phxBroadcast, pushReply, QUIET_MS } from './helpers.mjs'

const isEvent = (event) => (m) => m.event === event

test('realtime-js self=false: the sender does not get its own broadcast, the others do', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  const [a, aGot] = rtChannel(s.realtime(hub.ws), 'room', {}, 'a (self default)')
  const [b, bGot] = rtChannel(s.realtime(hub.ws), 'room', {}, 'b')
  await subscribe(a)
  await subscribe(b)

  assert.equal(await a.send({ type: 'broadcast', event: 'chat', payload: { text: 'hi', n: 1 } }), 'ok')
  const m = await bGot.next(isEvent('chat'), 'the broadcast')
  assert.deepEqual(m, { type: 'broadcast', event: 'chat', payload: { text: 'hi', n: 1 } })
  assert.deepEqual(await aGot.settle(), [], 'self=false (the default) must not echo to the sender')
  assert.equal(bGot.items.length, 1, 'exactly one copy reaches the other client')
})

test('realtime-js self=true: the sender gets its own broadcast too', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  const [a, aGot] = rtChannel(s.realtime(hub.ws), 'room', { broadcast: { self: true } }, 'a (self)')
  const [b, bGot] = rtChannel(s.realtime(hub.ws), 'room', {}, 'b')
  await subscribe(a)
  await subscribe(b)

  await a.send({ type: 'broadcast', event: 'cursor', payload: { x: 1.5, y: -2 } })
  assert.deepEqual(await aGot.next(isEvent('cursor'), 'the echo'), { type: 'broadcast', event: 'cursor', payload: { x: 1.5, y: -2 } })
  assert.deepEqual(await bGot.next(isEvent('cursor'), 'the broadcast'), { type: 'broadcast', event: 'cursor', payload: { x: 1.5, y: -2 } })
  await aGot.settle()
  assert.equal(aGot.items.length, 1, 'exactly one echo')
})

test('realtime-js ack=true: send() resolves ok from the hub reply and the message is delivered', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  const [a] = rtChannel(s.realtime(hub.ws), 'room', { broadcast: { ack: true } }, 'a (ack)')
  const [b, bGot] = rtChannel(s.realtime(hub.ws), 'room', {}, 'b')
  await subscribe(a)
  await subscribe(b)

  // With ack the client waits for a phx_reply to its push (without it, send() resolves at once),
  // so 'ok' here means the hub acknowledged; 'timed out' would mean it did not.
  assert.equal(await a.send({ type: 'broadcast', event: 'vote', payload: { track: 7 } }, { timeout: 2000 }), 'ok')
  assert.deepEqual(await bGot.next(isEvent('vote')), { type: 'broadcast', event: 'vote', payload: { track: 7 } })

  // Several acked sends in a row each get their own reply.
  const results = await Promise.all([1, 2, 3].map((n) => a.send({ type: 'broadcast', event: 'seq', payload: { n } }, { timeout: 2000 })))
  assert.deepEqual(results, ['ok', 'ok', 'ok'])
  await bGot.next((m) => m.event === 'seq' && m.payload.n === 3, 'the third seq broadcast')
  assert.deepEqual(bGot.items.filter(isEvent('seq')).map((m) => m.payload.n), [1, 2, 3], 'in order')
})

test('phoenix.js → realtime-js: a JSON broadcast push reaches realtime-js subscribers', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  const socket = await s.phoenix(hub.ws)
  // phoenix.js must name the topic realtime:<name> to share a channel with realtime-js's '<name>'.
  const [p, pGot] = phxChannel(socket, 'realtime:room')
  const [r, rGot] = rtChannel(s.realtime(hub.ws), 'room')
  await join(p)
  await subscribe(r)

  phxBroadcast(p, 'chat', { text: 'from phoenix', list: [1, 'two', null], nested: { ok: true } })
  assert.deepEqual(await rGot.next(isEvent('chat'), 'the phoenix.js broadcast'),
    { type: 'broadcast', event: 'chat', payload: { text: 'from phoenix', list: [1, 'two', null], nested: { ok: true } } })
  assert.deepEqual(await pGot.settle(), [], 'no config means self=false: phoenix.js gets no echo')
})

test('phoenix.js broadcast ack: no reply by default, an ok reply with config.broadcast.ack', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  const socket = await s.phoenix(hub.ws)
  const [plain] = phxChannel(socket, 'realtime:plain')
  const [acked] = phxChannel(socket, 'realtime:acked', { config: { broadcast: { ack: true, self: true } } })
  await join(plain)
  await join(acked)

  // Supabase does not answer a broadcast unless asked: the push must get no reply at all.
  const replies = []
  plain.push('broadcast', { type: 'broadcast', event: 'e', payload: {} }, 10_000)
    .receive('ok', (r) => replies.push(['ok', r]))
    .receive('error', (r) => replies.push(['error', r]))
  await new Promise((resolve) => setTimeout(resolve, QUIET_MS))
  assert.deepEqual(replies, [], 'a broadcast without ack gets no reply')

  assert.deepEqual(await pushReply(acked, 'broadcast', { type: 'broadcast', event: 'e', payload: { a: 1 } }), { status: 'ok', response: {} })
})

test('realtime-js → phoenix.js: a binary kind 3 broadcast reaches phoenix.js as JSON text', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  const socket = await s.phoenix(hub.ws)
  const [p, pGot] = phxChannel(socket, 'realtime:room')
  const [r, rGot] = rtChannel(s.realtime(hub.ws), 'room', { broadcast: { ack: true } })
  await join(p)
  await subscribe(r)

  // Capture the raw frame too: phoenix.js decodes binary kinds 0–2 only, so it must be text.
  const raw = []
  socket.onMessage((m) => m.event === 'broadcast' && raw.push(m))
  const payload = { text: 'from realtime-js', emoji: '🎵 ñ', n: 3.25, deep: { a: [true, false] } }
  assert.equal(await r.send({ type: 'broadcast', event: 'chat', payload }), 'ok')
  assert.deepEqual(await pGot.next(isEvent('chat'), 'the realtime-js broadcast'), { type: 'broadcast', event: 'chat', payload })
  assert.equal(raw.length, 1)
  assert.equal(raw[0].topic, 'realtime:room')
  assert.equal(raw[0].ref, null)
  assert.deepEqual(await rGot.settle(), [], 'no echo to the realtime-js sender')
})
