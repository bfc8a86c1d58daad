import { scope, subscribe, join, Inbox, pushReply, phxBroadcast } from '/work/main/tests/interop/helpers.mjs'
const afters = []
const t = { after: (f) => afters.push(f) }
const s = scope(t)
try {
  const hub = await s.hub()
  console.log(hub.ws)
  const a = s.realtime(hub.ws), b = s.realtime(hub.ws)
  const got = new Inbox('b')
  const ca = a.channel('x', { config: { broadcast: { ack: true } } })
  const cb = b.channel('x').on('broadcast', { event: '*' }, got.push)
  await subscribe(ca); await subscribe(cb)
  console.log('send', await ca.send({ type: 'broadcast', event: 'hi', payload: { n: 1 } }))
  console.log(await got.next())
  const p = await s.phoenix(hub.ws)
  const pc = p.channel('realtime:x')
  const pin = new Inbox('p'); pc.on('broadcast', pin.push)
  console.log(await join(pc))
  await ca.send({ type: 'broadcast', event: 'hi2', payload: { n: 2 } })
  console.log(await pin.next())
  console.log(await pushReply(pc, 'broadcast', { type: 'broadcast', event: 'fromphx', payload: { z: 1 } }))
  console.log(await got.next(m => m.event === 'fromphx'))
} finally {
  const t0 = Date.now()
  for (const f of afters) await f()
  console.log('cleanup ms', Date.now() - t0)
}
