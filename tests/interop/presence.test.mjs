// 3. Presence: realtime-js track/untrack and presenceState(), phoenix.js pushes and its Presence
// class. The hub sends presence_state after a join and presence_diff on every change; an update is
// one diff with the new meta as a join and the old one as a leave, so clients keep ONE entry.

import test from 'node:test'
import assert from 'node:assert/strict'
import { Presence } from 'phoenix'
import { scope, subscribe, join, pushReply, withTimeout, STEP_MS } from './helpers.mjs'

/** Resolves once `check()` returns a truthy value, re-checking each time `onChange` fires. */
function until(onChange, check, what) {
  return withTimeout(new Promise((resolve) => {
    const test = () => {
      const v = check()
      if (v) resolve(v)
    }
    onChange(test)
    test()
  }), STEP_MS, what)
}

/** A realtime-js channel with presence on (a sync listener turns it on) and a change hook. */
function rtPresence(client, name, key) {
  const hooks = []
  const channel = client
    .channel(name, { config: { presence: { key } } })
    .on('presence', { event: 'sync' }, () => hooks.forEach((h) => h()))
  const changed = (f) => hooks.push(f)
  return { channel, changed, state: () => channel.presenceState() }
}

/** The metas of one key without the refs the hub chose, for comparing with what was tracked. */
const metas = (entries) => entries?.map(({ presence_ref, phx_ref, phx_ref_prev, ...meta }) => meta)

test('realtime-js presence: sync, update to one entry, untrack', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  const alice = rtPresence(s.realtime(hub.ws), 'room', 'alice')
  const bob = rtPresence(s.realtime(hub.ws), 'room', 'bob')
  await subscribe(alice.channel)
  await subscribe(bob.channel)

  assert.equal(await alice.channel.track({ name: 'Alice', status: 'listening' }), 'ok')
  await until(bob.changed, () => bob.state().alice, 'bob to see alice')
  assert.deepEqual(metas(bob.state().alice), [{ name: 'Alice', status: 'listening' }])
  assert.match(bob.state().alice[0].presence_ref, /.+/, 'each meta carries a presence ref')
  // Alice sees herself too (presence diffs go to every subscriber, the tracker included).
  await until(alice.changed, () => alice.state().alice, 'alice to see herself')

  // Tracking again is an update: bob must end with ONE entry for alice, holding the new meta.
  assert.equal(await alice.channel.track({ name: 'Alice', status: 'away' }), 'ok')
  await until(bob.changed, () => bob.state().alice?.some((m) => m.status === 'away'), 'bob to see alice\'s update')
  assert.deepEqual(metas(bob.state().alice), [{ name: 'Alice', status: 'away' }], 'an update replaces the meta, it does not add one')

  assert.equal(await alice.channel.untrack(), 'ok')
  await until(bob.changed, () => !bob.state().alice, 'bob to see alice untrack')
  assert.deepEqual(Object.keys(bob.state()), [], 'nobody is left')
})

test('a late joiner gets the current presence in presence_state', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  const alice = rtPresence(s.realtime(hub.ws), 'room', 'alice')
  await subscribe(alice.channel)
  await alice.channel.track({ name: 'Alice' })

  const carol = rtPresence(s.realtime(hub.ws), 'room', 'carol')
  await subscribe(carol.channel)
  await until(carol.changed, () => carol.state().alice, 'the late joiner to see alice')
  assert.deepEqual(metas(carol.state().alice), [{ name: 'Alice' }])
})

test('phoenix.js Presence and realtime-js see each other, and leave on socket close', async (t) => {
  const s = scope(t)
  const hub = await s.hub()

  // phoenix.js: the realtime-js join config works from phoenix.js too, to choose the presence key.
  const socket = await s.phoenix(hub.ws)
  const channel = socket.channel('realtime:room', { config: { presence: { key: 'phil' } } })
  const presence = new Presence(channel)
  const synced = []
  presence.onSync(() => synced.forEach((f) => f()))
  const onSync = (f) => synced.push(f)
  const list = () => Object.fromEntries(presence.list((key, { metas }) => [key, metas]))
  await join(channel)

  const rtClient = s.realtime(hub.ws)
  const alice = rtPresence(rtClient, 'room', 'alice')
  const bob = rtPresence(s.realtime(hub.ws), 'room', 'bob')
  await subscribe(alice.channel)
  await subscribe(bob.channel)

  // phoenix.js tracks with a plain push, as Supabase's protocol defines it; the hub replies ok.
  const reply = await pushReply(channel, 'presence', { type: 'presence', event: 'track', payload: { name: 'Phil' } })
  assert.equal(reply.status, 'ok', `presence track reply: ${JSON.stringify(reply)}`)
  await alice.channel.track({ name: 'Alice' })

  await until(onSync, () => list().alice && list().phil, 'phoenix.js Presence to list alice and phil')
  assert.deepEqual(metas(list().alice), [{ name: 'Alice' }])
  assert.deepEqual(metas(list().phil), [{ name: 'Phil' }])
  await until(bob.changed, () => bob.state().alice && bob.state().phil, 'realtime-js to see alice and phil')
  assert.deepEqual(metas(bob.state().phil), [{ name: 'Phil' }])

  // phoenix.js updates its meta: still one entry, now with the new meta, for both kinds of client.
  await pushReply(channel, 'presence', { type: 'presence', event: 'track', payload: { name: 'Phil', mood: 'happy' } })
  await until(bob.changed, () => bob.state().phil?.[0].mood === 'happy', 'realtime-js to see phil\'s update')
  assert.deepEqual(metas(bob.state().phil), [{ name: 'Phil', mood: 'happy' }])
  await until(onSync, () => list().phil?.[0].mood === 'happy', 'phoenix.js to see its own update')
  assert.equal(list().phil.length, 1)

  // Closing alice's whole socket (no untrack) must take her out of everyone's presence.
  await rtClient.disconnect()
  await until(onSync, () => !list().alice, 'phoenix.js Presence to drop alice after her socket closed')
  await until(bob.changed, () => !bob.state().alice, 'realtime-js to drop alice after her socket closed')

  // And the phoenix.js socket closing takes phil out of realtime-js's presence.
  await withTimeout(new Promise((resolve) => socket.disconnect(resolve)), STEP_MS, 'phoenix.js to disconnect')
  await until(bob.changed, () => !bob.state().phil, 'realtime-js to drop phil after the phoenix.js socket closed')
  assert.deepEqual(Object.keys(bob.state()), [])
})

test('phoenix.js untrack and leave: the entry goes, and leaving one topic keeps the socket', async (t) => {
  const s = scope(t)
  const hub = await s.hub()
  const socket = await s.phoenix(hub.ws)
  const channel = socket.channel('realtime:room', { config: { presence: { key: 'phil' } } })
  await join(channel)
  const bob = rtPresence(s.realtime(hub.ws), 'room', 'bob')
  await subscribe(bob.channel)

  await pushReply(channel, 'presence', { type: 'presence', event: 'track', payload: { n: 1 } })
  await until(bob.changed, () => bob.state().phil, 'bob to see phil')
  const untrack = await pushReply(channel, 'presence', { type: 'presence', event: 'untrack' })
  assert.equal(untrack.status, 'ok')
  await until(bob.changed, () => !bob.state().phil, 'bob to see phil untrack')

  await pushReply(channel, 'presence', { type: 'presence', event: 'track', payload: { n: 2 } })
  await until(bob.changed, () => bob.state().phil, 'bob to see phil again')
  const left = await withTimeout(new Promise((resolve) => channel.leave().receive('ok', resolve)), STEP_MS, 'phoenix.js leave')
  assert.deepEqual(left, {})
  await until(bob.changed, () => !bob.state().phil, 'bob to see phil leave the channel')
  assert.ok(socket.isConnected(), 'leaving a channel does not close the socket')
})
