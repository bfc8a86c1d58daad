// The room's own events, seen by the official clients: a realtime-js or phoenix.js client with the
// listener token subscribes to the room's topics and sees the same signed chat and queue diffs the
// Rust clients see — and, signing with Node's own ed25519, can take part by sending intents.

import test from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { generateKeyPairSync, sign, verify, createPublicKey, randomBytes } from 'node:crypto'
import { promisify } from 'node:util'
import { scope, subscribe, join, cliPath, Inbox } from './helpers.mjs'

const run = promisify(execFile)

/** Opens a signed envelope {user, body, sig}: checks the ed25519 signature, returns the body. */
function open(envelope) {
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: envelope.user }, format: 'jwk' })
  assert.ok(verify(null, Buffer.from(envelope.body), key, Buffer.from(envelope.sig, 'base64url')), 'the host signature verifies')
  return JSON.parse(envelope.body)
}

async function send(invite, ...action) {
  const { stdout } = await run(cliPath(), ['send', invite, '--timeout', '5', ...action])
  return JSON.parse(stdout.trim())
}

test('realtime-js and phoenix.js see the room\'s signed chat and queue diffs', async (t) => {
  const s = scope(t)
  const host = await s.host('jam')
  const hostKey = new URL(host.invite.replace('whatssound://', 'http://x/')).searchParams.get('key')

  const rt = s.realtime(host.ws, host.listener_token)
  const rtChat = new Inbox('realtime-js room:jam:chat')
  const rtQueue = new Inbox('realtime-js room:jam:queue')
  const chat = rt.channel('room:jam:chat').on('broadcast', { event: 'host:diff' }, (m) => rtChat.push(m.payload))
  const queue = rt.channel('room:jam:queue').on('broadcast', { event: 'host:diff' }, (m) => rtQueue.push(m.payload))
  await subscribe(chat)
  await subscribe(queue)

  const px = await s.phoenix(host.ws, { token: host.listener_token })
  const pxChat = new Inbox('phoenix.js realtime:room:jam:chat')
  const pxChannel = px.channel('realtime:room:jam:chat')
  pxChannel.on('broadcast', (m) => m.event === 'host:diff' && pxChat.push(m.payload))
  await join(pxChannel)

  const ok = await send(host.invite, 'chat', 'hello from send')
  assert.equal(ok.event, 'ok')
  for (const inbox of [rtChat, pxChat]) {
    const envelope = await inbox.next(() => true, 'a chat diff')
    assert.equal(envelope.user, hostKey, 'signed by the invite\'s host key')
    const diff = open(envelope)
    assert.equal(diff.change.kind, 'chat')
    assert.equal(diff.change.message.text, 'hello from send')
    assert.equal(diff.seq, ok.seq)
  }

  const queued = await send(host.invite, 'enqueue', 'https://example.org/song.ogg')
  const diff = open(await rtQueue.next((e) => open(e).change.diff?.op === 'insert', 'a queue insert'))
  assert.equal(diff.change.diff.track.id, queued.track)
  assert.equal(diff.change.diff.track.source.url, 'https://example.org/song.ogg')
})

test('a realtime-js client with its own ed25519 key takes part: its intent becomes a diff', async (t) => {
  const s = scope(t)
  const host = await s.host('jam')
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const user = publicKey.export({ format: 'jwk' }).x // the raw key, base64url: a WhatsSound user id

  const rt = s.realtime(host.ws, host.listener_token)
  const chats = new Inbox('realtime-js chat')
  const main = rt.channel('room:jam')
  const chat = rt.channel('room:jam:chat').on('broadcast', { event: 'host:diff' }, (m) => chats.push(open(m.payload)))
  await subscribe(main)
  await subscribe(chat)

  const intent = { id: randomBytes(12).toString('hex'), name: 'node', action: { type: 'chat', text: 'signed in Node' } }
  const body = JSON.stringify(intent)
  const envelope = { user, body, sig: sign(null, Buffer.from(body), privateKey).toString('base64url') }
  assert.equal(await main.send({ type: 'broadcast', event: 'intent', payload: envelope }), 'ok')

  const diff = await chats.next((d) => d.intent === intent.id, 'the diff confirming the Node intent')
  assert.equal(diff.by, user)
  assert.equal(diff.change.message.text, 'signed in Node')
  assert.equal(diff.change.message.name, 'node')

  // A forged signature is dropped: no diff ever names it.
  const forged = { ...intent, id: 'forged-1', action: { type: 'chat', text: 'not really me' } }
  await main.send({ type: 'broadcast', event: 'intent', payload: { user, body: JSON.stringify(forged), sig: envelope.sig } })
  assert.deepEqual(await chats.settle((d) => d.intent === 'forged-1'), [])
})
