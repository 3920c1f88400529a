// Signing-key rotation: tokens from before and after a rotation both verify
// with jose against a freshly fetched remote JWKS.
import { describe, it, before } from 'node:test'
import assert from 'node:assert/strict'
import * as oauth from 'oauth4webapi'
import * as jose from 'jose'
import { useShark, discover, register, insecure } from './shark.mjs'

describe('key rotation', () => {
  let as, client, auth
  const shark = useShark([], async () => {
    as = await discover(shark)
    client = await register(as, { client_name: 'rotation' })
    auth = oauth.ClientSecretBasic(client.client_secret)
  })

  async function token() {
    const c = { client_id: client.client_id }
    const res = await oauth.clientCredentialsGrantRequest(as, c, auth, {}, insecure)
    return (await oauth.processClientCredentialsResponse(as, c, res)).access_token
  }

  const verifyFresh = (t) => jose.jwtVerify(t, jose.createRemoteJWKSet(new URL(as.jwks_uri)),
    { issuer: shark.issuer, audience: shark.issuer, typ: 'at+jwt' })

  async function kids() {
    const res = await fetch(as.jwks_uri)
    assert.equal(res.status, 200)
    return (await res.json()).keys.map((k) => k.kid)
  }

  const rotate = (headers = { authorization: `Bearer ${shark.adminKey}` }) =>
    fetch(shark.url('/api/v1/admin/keys/rotate'), { method: 'POST', headers })

  it('rotation needs the admin key', async () => {
    let res = await rotate({})
    assert.equal(res.status, 401, await res.text())
    res = await rotate({ authorization: 'Bearer sk_live_wrong' })
    assert.equal(res.status, 401, await res.text())
  })

  it('T1 before and T2 after a rotation both verify; kids differ; T1 stays active', async () => {
    const t1 = await token()
    const kid1 = jose.decodeProtectedHeader(t1).kid
    assert.ok((await kids()).includes(kid1))

    const res = await rotate()
    assert.equal(res.status, 201)
    const body = await res.json()
    assert.ok(body.kid)
    assert.equal(body.alg, 'ES256')
    assert.notEqual(body.kid, kid1)

    const after = await kids()
    assert.ok(after.includes(body.kid), 'new kid in JWKS')
    assert.ok(after.includes(kid1), 'old kid still in JWKS')

    const t2 = await token()
    const kid2 = jose.decodeProtectedHeader(t2).kid
    assert.equal(kid2, body.kid, 'new tokens are signed with the new key')
    assert.notEqual(kid1, kid2)

    const v1 = await verifyFresh(t1)
    const v2 = await verifyFresh(t2)
    assert.equal(v1.protectedHeader.kid, kid1)
    assert.equal(v2.protectedHeader.kid, kid2)

    const ir = await oauth.processIntrospectionResponse(as, { client_id: client.client_id },
      await oauth.introspectionRequest(as, { client_id: client.client_id }, auth, t1, insecure))
    assert.equal(ir.active, true)
    assert.equal(ir.jti, v1.payload.jti)
  })

  it('a token signed with the old key can still be exchanged after rotation', async () => {
    const t1 = await token()
    const res = await rotate()
    assert.equal(res.status, 201)
    const c = { client_id: client.client_id }
    const ex = await oauth.processGenericTokenEndpointResponse(as, c,
      await oauth.genericTokenEndpointRequest(as, c, auth, 'urn:ietf:params:oauth:grant-type:token-exchange',
        { subject_token: t1, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token' }, insecure))
    const { payload, protectedHeader } = await verifyFresh(ex.access_token)
    assert.equal(protectedHeader.kid, (await res.json()).kid)
    assert.equal(payload.act?.sub, client.client_id)
  })
})
