// 4. Several topics on one socket: every client multiplexes its channels over one WebSocket, so
// the hub must label each message with its own topic and send it only to that topic's members.

import test from 'node:test'
import assert from 'node:assert/strict'
import { scope, subscribe, join, rtChannel, phxChannel, phxBroadcast, v2 } from './helpers.mjs'

test('two topics on one realtime-js socket and one phoenix.js socket: messages do not cross', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  const listener = s.realtime(hub.ws)
  const [rA, rAGot] = rtChannel(listener, 'alpha')
  const [rB, rBGot] = rtChannel(listener, 'beta')
  const socket = await s.phoenix(hub.ws)
  const [pA, pAGot] = phxChannel(socket, 'realtime:alpha')
  const [pB, pBGot] = phxChannel(socket, 'realtime:beta')
  const sender = s.realtime(hub.ws)
  const [sA] = rtChannel(sender, 'alpha')
  const [sB] = rtChannel(sender, 'beta')
  const [sC] = rtChannel(sender, 'gamma')
  for (const c of [rA, rB, sA, sB, sC]) await subscribe(c)
  for (const c of [pA, pB]) await join(c)
  assert.equal(listener.getChannels().length, 2)

  // The same event name on each topic, so only the topic can tell them apart.
  await sA.send({ type: 'broadcast', event: 'say', payload: { on: 'alpha' } })
  await sB.send({ type: 'broadcast', event: 'say', payload: { on: 'beta' } })
  await sC.send({ type: 'broadcast', event: 'say', payload: { on: 'gamma' } })
  await rAGot.next((m) => m.payload.on === 'alpha')
  await rBGot.next((m) => m.payload.on === 'beta')
  await pAGot.next((m) => m.payload.on === 'alpha')
  await pBGot.next((m) => m.payload.on === 'beta')
  const expected = [[rAGot, 'alpha'], [rBGot, 'beta'], [pAGot, 'alpha'], [pBGot, 'beta']]
  const settled = await Promise.all(expected.map(([inbox]) => inbox.settle()))
  expected.forEach(([inbox, topic], i) => {
    assert.deepEqual(settled[i].map((m) => m.payload.on), [topic], `${inbox.name} gets its own topic only`)
  })

  // Leaving one topic leaves the other working on the same socket.
  assert.equal(await rA.unsubscribe(), 'ok')
  await sA.send({ type: 'broadcast', event: 'say', payload: { on: 'alpha', n: 2 } })
  await sB.send({ type: 'broadcast', event: 'say', payload: { on: 'beta', n: 2 } })
  await rBGot.next((m) => m.payload.n === 2, 'beta after alpha was left')
  await pAGot.next((m) => m.payload.n === 2, 'phoenix.js alpha, still joined')
  assert.equal((await rAGot.settle()).length, 1, 'nothing more on the channel that was left')
})

test('on the wire: each broadcast is one frame labelled with its topic, none for unjoined topics', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  const raw = await s.raw(`${hub.ws}/socket/websocket?vsn=2.0.0`)
  raw.send(['1', '1', 'realtime:alpha', 'phx_join', {}])
  raw.send(['2', '2', 'realtime:beta', 'phx_join', {}])
  await raw.frames.next((f) => v2(f).ref === '2' && v2(f).event === 'phx_reply', 'the second join reply')

  const socket = await s.phoenix(hub.ws)
  const senders = {}
  for (const name of ['alpha', 'beta', 'gamma']) {
    senders[name] = phxChannel(socket, `realtime:${name}`)[0]
    await join(senders[name])
  }
  for (const name of ['gamma', 'beta', 'alpha']) phxBroadcast(senders[name], 'say', { on: name })
  await raw.frames.next((f) => v2(f).event === 'broadcast' && v2(f).topic === 'realtime:alpha', 'alpha broadcast')
  const broadcasts = (await raw.frames.settle((f) => v2(f).event === 'broadcast')).map(v2)
  assert.deepEqual(broadcasts, [
    { join_ref: null, ref: null, topic: 'realtime:beta', event: 'broadcast', payload: { type: 'broadcast', event: 'say', payload: { on: 'beta' } } },
    { join_ref: null, ref: null, topic: 'realtime:alpha', event: 'broadcast', payload: { type: 'broadcast', event: 'say', payload: { on: 'alpha' } } },
  ])
})

test('a second join of a joined topic closes the first (phx_close with the old join_ref) and replaces it', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  const raw = await s.raw(`${hub.ws}/socket/websocket?vsn=2.0.0`)
  raw.send(['1', '1', 'realtime:x', 'phx_join', {}])
  await raw.frames.next((f) => f[1] === '1', 'the first join reply')
  raw.send(['5', '5', 'realtime:x', 'phx_join', {}])
  await raw.frames.next((f) => f[1] === '5', 'the second join reply')
  const after = raw.frames.items.map(v2).filter((m) => m.event === 'phx_close' || m.ref === '5')
  assert.deepEqual(after.map((m) => [m.join_ref, m.ref, m.event]), [['1', '1', 'phx_close'], ['5', '5', 'phx_reply']])

  // One subscription, not two: a broadcast arrives once, on the new join.
  const socket = await s.phoenix(hub.ws)
  const [p] = phxChannel(socket, 'realtime:x')
  await join(p)
  phxBroadcast(p, 'once', {})
  await raw.frames.next((f) => f[3] === 'broadcast', 'the broadcast')
  assert.equal((await raw.frames.settle((f) => f[3] === 'broadcast')).length, 1)
})
