// 6. realtime-js 2.91+ sends every broadcast as binary kind 3. The hub must turn a JSON-encoded one
// into each subscriber's own form: binary kind 4 for realtime-js, JSON text for phoenix.js and for
// vsn 1.0.0 sockets. A binary-encoded payload (an ArrayBuffer) has no JSON form: it reaches
// realtime-js byte for byte and is dropped for JSON-only subscribers, as Supabase does.

import test from 'node:test'
import assert from 'node:assert/strict'
import { scope, subscribe, join, rtChannel, phxChannel, WebSocket } from './helpers.mjs'

/** A `ws` WebSocket that records what the client sends, to check what realtime-js puts on the wire. */
function spyTransport() {
  const sent = []
  class SpyWebSocket extends WebSocket {
    send(data, ...rest) {
      sent.push(Buffer.from(typeof data === 'string' ? data : new Uint8Array(data)))
      return super.send(data, ...rest)
    }
  }
  return { SpyWebSocket, sent }
}

/** Decodes a binary kind 4 user broadcast: kind, topic/event/meta lengths, encoding, then bytes. */
function decodeKind4(buf) {
  assert.ok(Buffer.isBuffer(buf), `expected a binary frame, got ${JSON.stringify(buf)}`)
  const [kind, topicLen, eventLen, metaLen, encoding] = buf
  let at = 5
  const take = (n) => buf.subarray(at, (at += n))
  return { kind, topic: take(topicLen).toString(), event: take(eventLen).toString(), meta: take(metaLen).toString(), encoding, payload: buf.subarray(at) }
}

test('a realtime-js kind 3 broadcast reaches a vsn 1.0.0 subscriber as a V1 JSON object', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  const v1 = await s.raw(`${hub.ws}/socket/websocket?vsn=1.0.0`)
  v1.send({ topic: 'realtime:x', event: 'phx_join', payload: {}, ref: '1', join_ref: '1' })
  // Phoenix's V1 serializer writes {topic, event, payload, ref} and no join_ref.
  assert.deepEqual(await v1.frames.next((f) => f.event === 'phx_reply', 'the join reply'),
    { topic: 'realtime:x', event: 'phx_reply', payload: { status: 'ok', response: {} }, ref: '1' })

  const { SpyWebSocket, sent } = spyTransport()
  const [r, rGot] = rtChannel(s.realtime(hub.ws, 'anon', { transport: SpyWebSocket }), 'x')
  await subscribe(r)
  await r.send({ type: 'broadcast', event: 'play', payload: { track: 'a', at: 1.25, tags: ['x', 'é'] } })

  const kind3 = sent.filter((b) => b[0] === 3)
  assert.equal(kind3.length, 1, 'realtime-js sent its broadcast as binary kind 3 (that is what this test is about)')
  assert.equal(kind3[0][6], 1, 'with the JSON payload encoding')

  assert.deepEqual(await v1.frames.next((f) => f.event === 'broadcast', 'the broadcast at the vsn 1.0.0 socket'), {
    topic: 'realtime:x',
    event: 'broadcast',
    payload: { type: 'broadcast', event: 'play', payload: { track: 'a', at: 1.25, tags: ['x', 'é'] } },
    ref: null,
  })

  // And the other way: a V1 JSON broadcast reaches realtime-js.
  v1.send({ topic: 'realtime:x', event: 'broadcast', payload: { type: 'broadcast', event: 'hello', payload: { from: 'v1' } }, ref: '2', join_ref: '1' })
  assert.deepEqual(await rGot.next((m) => m.event === 'hello'), { type: 'broadcast', event: 'hello', payload: { from: 'v1' } })
})

test('realtime-js on vsn 1.0.0 (its JSON-only option) gets a 2.0.0 client\'s kind 3 broadcast as JSON', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  const old = s.realtime(hub.ws, 'anon', { vsn: '1.0.0' })
  assert.match(old.endpointURL(), /vsn=1\.0\.0/)
  const [o, oGot] = rtChannel(old, 'x', {}, 'realtime-js vsn 1.0.0')
  const [n, nGot] = rtChannel(s.realtime(hub.ws), 'x', {}, 'realtime-js vsn 2.0.0')
  await subscribe(o)
  await subscribe(n)
  await n.send({ type: 'broadcast', event: 'e', payload: { from: '2.0.0' } })
  assert.deepEqual(await oGot.next(), { type: 'broadcast', event: 'e', payload: { from: '2.0.0' } })
  await o.send({ type: 'broadcast', event: 'e', payload: { from: '1.0.0' } })
  assert.deepEqual(await nGot.next(), { type: 'broadcast', event: 'e', payload: { from: '1.0.0' } })
})

test('realtime-js subscribers get binary kind 4 with the exact header layout', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  // A raw socket on the realtime endpoint stands in for realtime-js, to see the bytes.
  const raw = await s.raw(`${hub.ws}/realtime/v1/websocket?apikey=anon&vsn=2.0.0`)
  raw.send(['1', '1', 'realtime:x', 'phx_join', { config: { broadcast: { self: false, ack: false }, presence: { key: '', enabled: false }, private: false } }])
  await raw.frames.next((f) => Array.isArray(f) && f[3] === 'phx_reply', 'the join reply')

  const [r] = rtChannel(s.realtime(hub.ws), 'x')
  await subscribe(r)
  await r.send({ type: 'broadcast', event: 'play', payload: { n: 1 } })
  const frame = decodeKind4(await raw.frames.next(Buffer.isBuffer, 'a binary frame'))
  assert.deepEqual({ ...frame, payload: JSON.parse(frame.payload) },
    { kind: 4, topic: 'realtime:x', event: 'play', meta: '', encoding: 1, payload: { n: 1 } })
})

test('an ArrayBuffer payload reaches realtime-js byte for byte, and no JSON-only subscriber', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  const [a] = rtChannel(s.realtime(hub.ws), 'x', { broadcast: { ack: true } }, 'sender')
  const [b, bGot] = rtChannel(s.realtime(hub.ws), 'x', {}, 'receiver')
  const socket = await s.phoenix(hub.ws)
  const [p, pGot] = phxChannel(socket, 'realtime:x')
  const v1 = await s.raw(`${hub.ws}/socket/websocket?vsn=1.0.0`)
  v1.send({ topic: 'realtime:x', event: 'phx_join', payload: {}, ref: '1', join_ref: '1' })
  await v1.frames.next((f) => f.event === 'phx_reply', 'the vsn 1.0.0 join reply')
  await subscribe(a)
  await subscribe(b)
  await join(p)

  // Every byte value, including ones that are not valid UTF-8 or JSON.
  const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 7 + 3) % 256)
  assert.equal(await a.send({ type: 'broadcast', event: 'chunk', payload: bytes.buffer }), 'ok')
  const got = await bGot.next((m) => m.event === 'chunk', 'the binary broadcast')
  assert.ok(got.payload instanceof ArrayBuffer, `payload is an ArrayBuffer, got ${Object.prototype.toString.call(got.payload)}`)
  assert.deepEqual(new Uint8Array(got.payload), bytes)

  // JSON-only readers (phoenix.js, vsn 1.0.0) cannot represent it and must not get anything.
  await a.send({ type: 'broadcast', event: 'after', payload: { ok: true } })
  await pGot.next((m) => m.event === 'after', 'the JSON broadcast sent after the binary one')
  await v1.frames.next((f) => f.event === 'broadcast', 'the JSON broadcast at vsn 1.0.0')
  assert.deepEqual(pGot.items.map((m) => m.event), ['after'])
  assert.deepEqual(v1.frames.items.filter((f) => f.event === 'broadcast').map((f) => f.payload.event), ['after'])
})

/** Encodes a binary kind 3 user broadcast push, as realtime-js's serializer does. */
function encodeKind3({ joinRef, ref, topic, event, meta = '', encoding, payload }) {
  const parts = [joinRef, ref, topic, event, meta].map((p) => Buffer.from(p))
  return Buffer.concat([Buffer.from([3, ...parts.map((p) => p.length), encoding]), ...parts, Buffer.from(payload)])
}

test('kind 3 metadata reaches realtime-js as `meta` and phoenix.js in the JSON form', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  const [r, rGot] = rtChannel(s.realtime(hub.ws), 'x')
  const socket = await s.phoenix(hub.ws)
  const [p, pGot] = phxChannel(socket, 'realtime:x')
  await subscribe(r)
  await join(p)

  // realtime-js only sends metadata for private channels (`persist`), so a raw client sends it.
  const raw = await s.raw(`${hub.ws}/realtime/v1/websocket?apikey=anon&vsn=2.0.0`)
  raw.send(['1', '1', 'realtime:x', 'phx_join', { config: { broadcast: { ack: true } } }])
  await raw.frames.next((f) => Array.isArray(f) && f[1] === '1', 'the join reply')
  raw.send(encodeKind3({ joinRef: '1', ref: '2', topic: 'realtime:x', event: 'noted', meta: '{"persist":true}', encoding: 1, payload: '{"a":[1,2]}' }))
  assert.deepEqual(await raw.frames.next((f) => Array.isArray(f) && f[1] === '2', 'the ack'), ['1', '2', 'realtime:x', 'phx_reply', { status: 'ok', response: {} }])

  const expected = { type: 'broadcast', event: 'noted', payload: { a: [1, 2] }, meta: { persist: true } }
  assert.deepEqual(await rGot.next(), expected)
  assert.deepEqual(await pGot.next(), expected)
})
