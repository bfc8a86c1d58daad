// 7. One bad client must not hurt the others: a socket that sends a frame the protocol cannot
// decode is closed on its own (1008 "policy violation", reason "malformed frame: ..."), while the
// official clients already on the hub — including on the same topic — keep exchanging broadcasts.

import test from 'node:test'
import assert from 'node:assert/strict'
import { scope, subscribe, join, rtChannel, phxChannel, phxBroadcast, withTimeout, sleep, STEP_MS, WebSocket } from './helpers.mjs'

/** Each bad input, the endpoint it goes to, and what the hub should say when it closes the socket. */
const BAD_FRAMES = [
  { what: 'text that is not JSON', path: '/socket/websocket?vsn=2.0.0', frame: 'not json' },
  { what: 'a JSON object on vsn 2.0.0', path: '/socket/websocket?vsn=2.0.0', frame: '{"topic":"realtime:x"}' },
  { what: 'a V2 array on vsn 1.0.0', path: '/socket/websocket?vsn=1.0.0', frame: '[null,"1","phoenix","heartbeat",{}]' },
  { what: 'a binary frame of unknown kind', path: '/socket/websocket?vsn=2.0.0', frame: Buffer.from([0xff, 0, 1, 2]) },
  { what: 'an empty binary frame', path: '/realtime/v1/websocket?apikey=anon&vsn=2.0.0', frame: Buffer.alloc(0) },
  // Kind 3 claiming a 200-byte topic in a frame far shorter than that.
  { what: 'a truncated kind 3 push', path: '/realtime/v1/websocket?apikey=anon&vsn=2.0.0', frame: Buffer.from([3, 1, 1, 200, 1, 0, 1, 0x31, 0x31]) },
  // Kind 4 is what the server sends; a client sending it breaks the protocol.
  { what: 'a server-only kind 4 frame', path: '/realtime/v1/websocket?apikey=anon&vsn=2.0.0', frame: Buffer.from([4, 1, 1, 0, 1, 0x74, 0x65, 0x7b, 0x7d]) },
]

test('a socket sending a malformed frame is closed with 1008; the official clients carry on', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  const [a, aGot] = rtChannel(s.realtime(hub.ws), 'x', {}, 'realtime-js a')
  const [b, bGot] = rtChannel(s.realtime(hub.ws), 'x', {}, 'realtime-js b')
  const socket = await s.phoenix(hub.ws)
  const [p, pGot] = phxChannel(socket, 'realtime:x')
  await subscribe(a)
  await subscribe(b)
  await join(p)

  for (const [i, bad] of BAD_FRAMES.entries()) {
    const raw = await s.raw(`${hub.ws}${bad.path}`)
    // Joined to the same topic first, so the hub has state to clean up for it.
    const v1 = bad.path.includes('vsn=1.0.0')
    raw.send(v1 ? { topic: 'realtime:x', event: 'phx_join', payload: {}, ref: '1', join_ref: '1' } : ['1', '1', 'realtime:x', 'phx_join', {}])
    await raw.frames.next((f) => (Array.isArray(f) ? f[3] : f.event) === 'phx_reply', `the join reply before ${bad.what}`)
    raw.send(bad.frame)
    const { code, reason } = await withTimeout(raw.closed, STEP_MS, `the hub to close the socket that sent ${bad.what}`)
    assert.equal(code, 1008, `close code after ${bad.what} (reason ${JSON.stringify(reason)})`)
    assert.match(reason, /^malformed frame/, `close reason after ${bad.what}`)

    // Everyone else still exchanges broadcasts in both directions, across both endpoints.
    await a.send({ type: 'broadcast', event: 'still', payload: { i, from: 'a' } })
    phxBroadcast(p, 'still', { i, from: 'p' })
    await bGot.next((m) => m.payload.i === i && m.payload.from === 'a', `realtime-js b to hear a after ${bad.what}`)
    await bGot.next((m) => m.payload.i === i && m.payload.from === 'p', `realtime-js b to hear phoenix.js after ${bad.what}`)
    await aGot.next((m) => m.payload.i === i && m.payload.from === 'p', `realtime-js a to hear phoenix.js after ${bad.what}`)
    await pGot.next((m) => m.payload.i === i && m.payload.from === 'a', `phoenix.js to hear a after ${bad.what}`)
  }
  assert.ok(socket.isConnected() && a.state === 'joined' && b.state === 'joined' && p.state === 'joined')
})

test('unknown topics and events get error replies, not a closed socket', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  const raw = await s.raw(`${hub.ws}/socket/websocket?vsn=2.0.0`)
  const reply = (ref) => raw.frames.next((f) => f[1] === ref, `the reply to ref ${ref}`)

  raw.send(['1', '1', 'lobby', 'phx_join', {}])
  assert.deepEqual(await reply('1'), ['1', '1', 'lobby', 'phx_reply', { status: 'error', response: { reason: 'unmatched topic' } }])
  raw.send([null, '2', 'realtime:never-joined', 'broadcast', { type: 'broadcast', event: 'e', payload: {} }])
  assert.deepEqual((await reply('2'))[4], { status: 'error', response: { reason: 'unmatched topic' } })
  raw.send(['3', '3', 'realtime:x', 'phx_join', {}])
  assert.equal((await reply('3'))[4].status, 'ok')
  raw.send(['3', '4', 'realtime:x', 'no_such_event', {}])
  assert.equal((await reply('4'))[4].status, 'error')
  raw.send([null, '5', 'phoenix', 'heartbeat', {}])
  assert.deepEqual(await reply('5'), [null, '5', 'phoenix', 'phx_reply', { status: 'ok', response: {} }], 'the socket still works')
})

test('a message over --max-frame-bytes closes only that socket, with 1009', async (t) => {
  const s = scope(t)
  const hub = await s.hub(undefined, ['--max-frame-bytes', '4096'])
  const [a] = rtChannel(s.realtime(hub.ws), 'x', {}, 'a')
  const [b, bGot] = rtChannel(s.realtime(hub.ws), 'x', {}, 'b')
  await subscribe(a)
  await subscribe(b)

  const raw = await s.raw(`${hub.ws}/socket/websocket?vsn=2.0.0`)
  raw.send(JSON.stringify([null, '1', 'phoenix', 'heartbeat', { pad: 'x'.repeat(5000) }]))
  const { code, reason } = await withTimeout(raw.closed, STEP_MS, 'the hub to close the oversized sender')
  assert.equal(code, 1009, `close code (reason ${JSON.stringify(reason)})`)
  assert.match(reason, /4096/, 'the reason names the limit')

  await a.send({ type: 'broadcast', event: 'still', payload: { small: true } })
  await bGot.next((m) => m.event === 'still', 'a broadcast after the oversized message')
})

test('a socket over --max-messages-per-sec gets rate-limit error replies, then recovers', async (t) => {
  const s = scope(t)
  const hub = await s.hub(undefined, ['--max-messages-per-sec', '5'])
  const raw = await s.raw(`${hub.ws}/socket/websocket?vsn=2.0.0`)
  for (let i = 1; i <= 30; i++) raw.send([null, `${i}`, 'phoenix', 'heartbeat', {}])
  await raw.frames.next((f) => f[1] === '30', 'the reply to the 30th heartbeat')
  const statuses = raw.frames.items.map((f) => f[4].status)
  const refused = raw.frames.items.filter((f) => f[4].status === 'error')
  assert.ok(statuses.includes('ok') && refused.length >= 10, `a burst is allowed, then refused: ${statuses.join(' ')}`)
  assert.match(refused[0][4].response.reason, /rate limit/)
  assert.equal(raw.ws.readyState, WebSocket.OPEN, 'throttling answers with errors; it does not close the socket')

  // Another socket is not throttled by the first one's flood.
  const other = await s.raw(`${hub.ws}/socket/websocket?vsn=2.0.0`)
  other.send([null, 'o', 'phoenix', 'heartbeat', {}])
  assert.equal((await other.frames.next((f) => f[1] === 'o'))[4].status, 'ok')

  // After a second the budget has refilled.
  await sleep(1100)
  raw.send([null, 'later', 'phoenix', 'heartbeat', {}])
  assert.equal((await raw.frames.next((f) => f[1] === 'later'))[4].status, 'ok')
})

test('an unknown vsn is refused at the upgrade with HTTP 400; at most 100 channels per socket', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  const status = await withTimeout(new Promise((resolve) => {
    const ws = new WebSocket(`${hub.ws}/socket/websocket?vsn=3.0.0`)
    ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode); ws.terminate() })
    ws.on('open', () => { resolve('open'); ws.close() })
    ws.on('error', () => {})
  }), STEP_MS, 'the vsn=3.0.0 upgrade answer')
  assert.equal(status, 400)

  const raw = await s.raw(`${hub.ws}/socket/websocket?vsn=2.0.0`)
  for (let i = 1; i <= 101; i++) raw.send([`${i}`, `${i}`, `realtime:t${i}`, 'phx_join', { config: { presence: { enabled: false } } }])
  const last = await raw.frames.next((f) => f[1] === '101', 'the 101st join reply')
  assert.deepEqual(last[4], { status: 'error', response: { reason: 'too many channels joined' } })
  assert.equal(raw.frames.items.filter((f) => f[3] === 'phx_reply' && f[4].status === 'ok').length, 100)
})
