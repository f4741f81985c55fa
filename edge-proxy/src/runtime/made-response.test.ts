// MadeResponse reads as Fetch's Response does for everything the core and filters use, and hands the listener
// its fields and bytes only while nothing has asked for them.
import { describe, expect, it } from 'vitest'
import { MadeResponse } from './made-response'

const fields = () => ({ 'content-type': 'application/problem+json', 'weft-reason': 'denied', 'x-two': 'a, b' })
const text = '{"status":403,"detail":"é"}'

describe('MadeResponse', () => {
  it('reads as the same Fetch Response would: status, headers, body by text, json, arrayBuffer and stream', async () => {
    const reference = () => new Response(text, { status: 403, headers: fields() })
    const made = () => new MadeResponse(403, fields(), text)
    for (const r of [reference(), made()]) expect([r.status, r.ok, r.statusText, r.bodyUsed]).toEqual([403, false, '', false])
    expect([...made().headers]).toEqual([...reference().headers])
    expect(await made().text()).toBe(await reference().text())
    expect(await made().json()).toEqual(await reference().json())
    expect(new Uint8Array(await made().arrayBuffer())).toEqual(new Uint8Array(await reference().arrayBuffer()))
    expect(await new Response(made().body).text()).toBe(text)
    const once = made()
    await once.text()
    expect(once.bodyUsed).toBe(true)
    await expect(once.text()).rejects.toThrow()
    expect(await new MadeResponse(204, {}, null).text()).toBe('')
    expect(new MadeResponse(204, {}, null).body).toBeNull()
  })

  it('clones while its body is unread', async () => {
    const r = new MadeResponse(403, fields(), text)
    const copy = r.clone()
    expect([await r.text(), await copy.text()]).toEqual([text, text])
  })

  it('hands over its fields and bytes only while untouched, and its body reads as used after', async () => {
    const r = new MadeResponse(403, fields(), text)
    const taken = r.takeUntouched()
    expect(taken?.fields).toEqual(fields())
    expect(taken?.bytes?.toString()).toBe(text)
    expect(r.takeUntouched()).toBeNull()
    await expect(r.text()).rejects.toThrow()

    const read = new MadeResponse(403, fields(), text)
    read.headers.set('x-added', '1')
    expect(read.takeUntouched()).toBeNull()
    const streamed = new MadeResponse(403, fields(), text)
    void streamed.body
    expect(streamed.takeUntouched()).toBeNull()
    expect(new MadeResponse(204, { a: 'b' }, null).takeUntouched()).toEqual({ fields: { a: 'b' }, bytes: null })
  })
})
