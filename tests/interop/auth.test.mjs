// 5. Who gets in, and who may send what, in host mode (`whatssound-cli host`): the room's topics
// need the listener or the host token; a wrong token is refused at the JOIN (not the upgrade) with a
// reason starting "Unauthorized: ", which is what the official clients surface; and authority
// events ("host:" prefix) are refused from listener sockets with "Forbidden: ...".

import test from 'node:test'
import assert from 'node:assert/strict'
import { scope, subscribe, join, rtChannel, phxChannel, phxBroadcast, pushReply, withTimeout, STEP_MS } from './helpers.mjs'

/** The first status a realtime-js subscribe reports, with its error. */
function firstStatus(channel) {
  return withTimeout(new Promise((resolve) => {
    let done = false
    channel.subscribe((status, err) => {
      if (!done) resolve({ status, err })
      done = true
    })
  }), STEP_MS, `a subscribe status for ${channel.topic}`)
}

/** A phoenix.js join that must fail: resolves with the error reply's response. */
function joinRefused(channel) {
  return withTimeout(new Promise((resolve, reject) => {
    channel.join()
      .receive('ok', () => reject(new Error(`phoenix.js joined ${channel.topic}, which should have been refused`)))
      .receive('error', resolve)
  }), STEP_MS, `the join refusal of ${channel.topic}`)
}

test('host mode: a wrong token is refused at join with Unauthorized, in both clients', async (t) => {
  const s = scope(t)
  const host = await s.host('r1')
  assert.equal(host.room, 'r1')
  assert.ok(host.listener_token && host.host_token && host.listener_token !== host.host_token)

  const rt = s.realtime(host.ws, 'not-the-token')
  const { status, err } = await firstStatus(rt.channel('room:r1'))
  assert.equal(status, 'CHANNEL_ERROR')
  assert.match(err.message, /^Unauthorized: /, 'realtime-js shows the hub\'s reason')
  assert.match(err.cause.reason, /^Unauthorized: /)

  const socket = await s.phoenix(host.ws, { token: 'not-the-token' })
  const refusal = await joinRefused(socket.channel('realtime:room:r1'))
  assert.match(refusal.reason, /^Unauthorized: /)
  assert.ok(socket.isConnected(), 'the socket stays open: only the join is refused')

  // No token at all, and a good token on a topic outside the room, are refused the same way.
  const bare = await s.phoenix(host.ws)
  assert.match((await joinRefused(bare.channel('realtime:room:r1'))).reason, /^Unauthorized: /)
  const other = await s.phoenix(host.ws, { token: host.host_token })
  assert.match((await joinRefused(other.channel('realtime:room:other'))).reason, /^Unauthorized: /)
  assert.match((await joinRefused(other.channel('realtime:lobby'))).reason, /^Unauthorized: /)
})

test('host mode: the listener and host tokens join the room and its sub-topics', async (t) => {
  const s = scope(t)
  const host = await s.host('r1')
  const [listener, lGot] = rtChannel(s.realtime(host.ws, host.listener_token), 'room:r1')
  const [chat, chatGot] = rtChannel(s.realtime(host.ws, host.listener_token), 'room:r1:chat')
  assert.equal(await subscribe(listener), 'SUBSCRIBED')
  assert.equal(await subscribe(chat), 'SUBSCRIBED')

  // phoenix.js with the host token, as `token` in the socket params (`apikey` works too).
  const socket = await s.phoenix(host.ws, { token: host.host_token })
  const [hostRoom] = phxChannel(socket, 'realtime:room:r1')
  const [hostChat] = phxChannel(socket, 'realtime:room:r1:chat')
  await join(hostRoom)
  await join(hostChat)

  phxBroadcast(hostRoom, 'host:play', { track: 't1', at: 12.5 })
  assert.deepEqual(await lGot.next((m) => m.event === 'host:play', 'the host\'s authority event'),
    { type: 'broadcast', event: 'host:play', payload: { track: 't1', at: 12.5 } })
  phxBroadcast(hostChat, 'message', { text: 'welcome' })
  await chatGot.next((m) => m.event === 'message', 'a chat message on the sub-topic')
})

test('host mode: a listener cannot send host: events (Forbidden), and nobody receives them', async (t) => {
  const s = scope(t)
  const host = await s.host('r1')
  const [observer, seen] = rtChannel(s.realtime(host.ws, host.listener_token), 'room:r1', {}, 'observer')
  await subscribe(observer)
  const socket = await s.phoenix(host.ws, { token: host.host_token })
  const [hostRoom, hostSeen] = phxChannel(socket, 'realtime:room:r1')
  await join(hostRoom)

  // phoenix.js listener: the push gets an error reply whose reason starts with "Forbidden".
  const lSocket = await s.phoenix(host.ws, { apikey: host.listener_token }) // apikey works like token
  const [lRoom] = phxChannel(lSocket, 'realtime:room:r1')
  await join(lRoom)
  const reply = await pushReply(lRoom, 'broadcast', { type: 'broadcast', event: 'host:skip', payload: {} })
  assert.equal(reply.status, 'error', `reply: ${JSON.stringify(reply)}`)
  assert.match(reply.response.reason, /^Forbidden/)

  // realtime-js listener with ack: the binary kind 3 push is refused, so send() must not say 'ok'.
  const [rtRoom] = rtChannel(s.realtime(host.ws, host.listener_token), 'room:r1', { broadcast: { ack: true } })
  await subscribe(rtRoom)
  assert.equal(await rtRoom.send({ type: 'broadcast', event: 'host:skip', payload: { by: 'rt' } }, { timeout: 2000 }), 'error')
  // Without ack the client cannot know, but the hub must drop it all the same.
  await rtRoom.send({ type: 'broadcast', event: 'host:stop', payload: {} })

  // Ordinary events from the same listeners still go through (and show the refusals were not lost
  // in transit: everything sent before them has had time to arrive).
  await rtRoom.send({ type: 'broadcast', event: 'chat', payload: { text: 'ok' } })
  phxBroadcast(lRoom, 'reaction', { emoji: '👍' })
  await seen.next((m) => m.event === 'chat')
  await seen.next((m) => m.event === 'reaction')
  await hostSeen.next((m) => m.event === 'reaction')
  const leaked = [...await seen.settle(), ...hostSeen.items].filter((m) => m.event.startsWith('host:'))
  assert.deepEqual(leaked, [], 'no subscriber received a host: event from a listener')
})

test('host mode: the role follows the token, so setAuth(host token) lets a listener send host: events', async (t) => {
  const s = scope(t)
  const host = await s.host('r1')
  const [observer, seen] = rtChannel(s.realtime(host.ws, host.listener_token), 'room:r1', {}, 'observer')
  await subscribe(observer)
  const client = s.realtime(host.ws, host.listener_token)
  const [ch] = rtChannel(client, 'room:r1', { broadcast: { ack: true } })
  await subscribe(ch)

  assert.equal(await ch.send({ type: 'broadcast', event: 'host:play', payload: { n: 1 } }, { timeout: 2000 }), 'error')
  await client.setAuth(host.host_token)
  assert.equal(await ch.send({ type: 'broadcast', event: 'host:play', payload: { n: 2 } }, { timeout: 2000 }), 'ok')
  await client.setAuth(host.listener_token)
  assert.equal(await ch.send({ type: 'broadcast', event: 'host:play', payload: { n: 3 } }, { timeout: 2000 }), 'error')
  await ch.send({ type: 'broadcast', event: 'marker', payload: {} })
  await seen.next((m) => m.event === 'marker')
  assert.deepEqual(seen.items.filter((m) => m.event === 'host:play').map((m) => m.payload.n), [2])
})

test('realtime-js setAuth: refreshing a valid token keeps the channel; a bad one closes it', async (t) => {
  const s = scope(t)
  const hub = await s.hub('s3cret')
  const client = s.realtime(hub.ws, 's3cret')
  const [mine, myGot] = rtChannel(client, 'lobby', { broadcast: { ack: true } })
  const systems = []
  mine.on('system', {}, (m) => systems.push(m))
  const statuses = []
  await withTimeout(new Promise((resolve) => mine.subscribe((status) => {
    statuses.push(status)
    if (status === 'SUBSCRIBED') resolve()
  })), STEP_MS, 'subscribe')
  const [other, otherGot] = rtChannel(s.realtime(hub.ws, 's3cret'), 'lobby', {}, 'other')
  await subscribe(other)

  // A valid token: realtime-js pushes access_token on the joined channel; the hub keeps it joined.
  await client.setAuth('s3cret')
  assert.equal(await mine.send({ type: 'broadcast', event: 'after-refresh', payload: { n: 1 } }), 'ok')
  await otherGot.next((m) => m.event === 'after-refresh')
  await other.send({ type: 'broadcast', event: 'back', payload: {} })
  await myGot.next((m) => m.event === 'back', 'a broadcast after the token refresh')
  assert.deepEqual(systems, [])

  // A token that is no longer good ends the channel with a system notice, as Supabase does.
  await client.setAuth('expired')
  await withTimeout((async () => { while (!statuses.includes('CLOSED')) await new Promise((r) => setTimeout(r, 20)) })(),
    STEP_MS, 'the channel to close after a bad token')
  assert.equal(systems.length, 1, `system notices: ${JSON.stringify(systems)}`)
  assert.equal(systems[0].status, 'error')
  assert.match(systems[0].message, /^Unauthorized: /)
  await other.send({ type: 'broadcast', event: 'gone', payload: {} })
  assert.deepEqual((await myGot.settle()).filter((m) => m.event === 'gone'), [], 'a closed channel gets nothing')
})

test('realtime-js: a join\'s access_token takes precedence over the socket apikey', async (t) => {
  const s = scope(t)
  const hub = await s.hub('s3cret')
  const client = s.realtime(hub.ws, 'publishable-key-not-the-token')
  await client.setAuth('s3cret')
  assert.equal(await subscribe(client.channel('lobby')), 'SUBSCRIBED', 'a good access_token lets a bad apikey in')

  const wrong = s.realtime(hub.ws, 's3cret')
  await wrong.setAuth('stale-token')
  const { status, err } = await firstStatus(wrong.channel('lobby'))
  assert.equal(status, 'CHANNEL_ERROR', 'a bad access_token is not rescued by a good apikey')
  assert.match(err.message, /^Unauthorized: /)
})
