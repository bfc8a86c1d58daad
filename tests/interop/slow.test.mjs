// A subscriber that stops reading (a phone that went to sleep with its socket open, a frozen tab)
// must not cost the others anything, and must not linger: docs/protocol.md says its outbound queue
// is bounded (1024 frames) and "a socket that does not read is closed with 1013 `too slow: …`
// rather than slowing others". Closing it is also what takes it out of the room's presence, so the
// others stop showing a listener who is not there.
//
// `ws.pause()` stops reading from the TCP socket; once the kernel buffers and the hub's write buffer
// are full the hub can no longer write to it, and its queue fills up.

import test from 'node:test'
import assert from 'node:assert/strict'
import { scope, subscribe, withTimeout, sleep, STEP_MS } from './helpers.mjs'

const FRAME_PAYLOAD = 'x'.repeat(4096)
// ~12 MB: more than loopback's socket buffers plus the hub's write buffer (about 4 MB here) plus
// the 1024-frame queue, so the paused reader's queue overflows for certain.
const FLOOD = 3000

test('a subscriber that stops reading is dropped (and leaves presence) while the others keep up', async (t) => {
  const s = scope(t)
  const hub = await s.hub(undefined, ['--max-messages-per-sec', '100000'])

  // realtime-js watches presence on the room topic.
  const observer = s.realtime(hub.ws)
  const present = new Set()
  const room = observer.channel('room', { config: { presence: { key: 'observer' } } })
    .on('presence', { event: 'sync' }, () => {
      present.clear()
      for (const key of Object.keys(room.presenceState())) present.add(key)
    })
  await subscribe(room)

  // The stalled client: present in the room, subscribed to the busy topic.
  const stalled = await s.raw(`${hub.ws}/socket/websocket?vsn=2.0.0`)
  stalled.send(['1', '1', 'realtime:room', 'phx_join', { config: { presence: { key: 'stalled' } } }])
  stalled.send(['1', '2', 'realtime:room', 'presence', { type: 'presence', event: 'track', payload: { name: 'asleep' } }])
  stalled.send(['3', '3', 'realtime:busy', 'phx_join', {}])
  await stalled.frames.next((f) => f[1] === '3' && f[3] === 'phx_reply', 'the stalled client\'s joins')
  await withTimeout((async () => { while (!present.has('stalled')) await sleep(20) })(), STEP_MS, 'the observer to see the stalled client')

  const reader = await s.raw(`${hub.ws}/socket/websocket?vsn=2.0.0`)
  reader.send(['1', '1', 'realtime:busy', 'phx_join', {}])
  await reader.frames.next((f) => f[3] === 'phx_reply', 'the reader\'s join')
  const sender = await s.raw(`${hub.ws}/socket/websocket?vsn=2.0.0`)
  sender.send(['1', '1', 'realtime:busy', 'phx_join', {}])
  await sender.frames.next((f) => f[3] === 'phx_reply', 'the sender\'s join')

  stalled.ws.pause()
  for (let i = 0; i < FLOOD; i++) {
    sender.send(['1', null, 'realtime:busy', 'broadcast', { type: 'broadcast', event: 'tick', payload: { i, pad: FRAME_PAYLOAD } }])
  }

  // The others are not slowed down: the reader gets every frame.
  await withTimeout((async () => {
    while (reader.frames.items.filter((f) => f[3] === 'broadcast').length < FLOOD) await sleep(20)
  })(), 10_000, `the reading subscriber to get all ${FLOOD} broadcasts`)

  // The stalled one is dropped without having to read again: its presence leaves the room.
  await withTimeout((async () => { while (present.has('stalled')) await sleep(20) })(), 3000,
    'the stalled subscriber to be dropped (its queue overflowed) and leave the room\'s presence')

  // When it reads again it finds its connection ended: with 1013 "too slow" if the close frame
  // made it through, or without a close frame (1006), since it was not reading when it was closed.
  stalled.ws.resume()
  const { code, reason } = await withTimeout(stalled.closed, STEP_MS, 'the stalled socket to end after resume')
  assert.ok(code === 1013 || code === 1006, `close code ${code} ${reason}`)
  if (code === 1013) assert.match(reason, /^too slow/)
})
