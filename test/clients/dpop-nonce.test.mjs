// The DPoP nonce challenge (RFC 9449 §8) against a server started with
// --dpop-nonce on, driven by oauth4webapi's DPoP handle and its documented
// retry pattern (isDPoPNonceError -> repeat the request once).
import { describe, it, before } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import * as oauth from 'oauth4webapi'
import * as jose from 'jose'
import { useShark, discover, register, insecure, postForm, basic, TOKEN_EXCHANGE, AT_TYPE } from './shark.mjs'

const now = () => Math.floor(Date.now() / 1000)

describe('dpop nonce', () => {
  let as, jwks, client
  const shark = useShark(['--dpop-nonce', 'on'], async () => {
    as = await discover(shark)
    jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri))
    client = await register(as, { client_name: 'nonce' })
  })

  // One client_credentials request; returns the raw Response and the result
  // (or the error) of processing it.
  async function attempt(DPoP, params = {}) {
    const c = { client_id: client.client_id }
    let response
    const capture = async (url, init) => {
      response = await fetch(url, init)
      return response.clone()
    }
    const res = await oauth.clientCredentialsGrantRequest(as, c, oauth.ClientSecretBasic(client.client_secret), params,
      { ...insecure, DPoP, [oauth.customFetch]: capture })
    try {
      return { response, result: await oauth.processClientCredentialsResponse(as, c, res) }
    } catch (error) {
      return { response, error }
    }
  }

  it('first proof is challenged with use_dpop_nonce; oauth4webapi retries and gets a bound token', async () => {
    const keyPair = await oauth.generateKeyPair('ES256', { extractable: true })
    const DPoP = oauth.DPoP({ client_id: client.client_id }, keyPair)

    const first = await attempt(DPoP, { scope: 'mcp:read' })
    assert.ok(first.error, 'the first request must be challenged')
    assert.equal(first.response.status, 400)
    assert.ok(oauth.isDPoPNonceError(first.error), String(first.error))
    const nonce = first.response.headers.get('dpop-nonce')
    assert.ok(nonce, 'DPoP-Nonce header on the challenge')
    assert.equal((await first.response.json()).error, 'use_dpop_nonce')

    const second = await attempt(DPoP, { scope: 'mcp:read' })
    assert.equal(second.error, undefined, String(second.error))
    assert.equal(second.response.status, 200)
    assert.ok(second.response.headers.get('dpop-nonce'), 'DPoP-Nonce header on the success too')
    assert.equal(second.result.token_type, 'dpop')
    const { payload } = await jose.jwtVerify(second.result.access_token, jwks,
      { issuer: shark.issuer, audience: shark.issuer, typ: 'at+jwt' })
    assert.equal(payload.cnf?.jkt, await jose.calculateJwkThumbprint(await jose.exportJWK(keyPair.publicKey)))

    // The handle now holds a nonce: the next request goes through at once.
    const third = await attempt(DPoP)
    assert.equal(third.error, undefined, String(third.error))
    assert.equal(third.result.token_type, 'dpop')
  })

  it('the documented retry loop works for token exchange too', async () => {
    const subject = await attempt(undefined)
    assert.equal(subject.error, undefined, String(subject.error))
    const keyPair = await oauth.generateKeyPair('ES256')
    const DPoP = oauth.DPoP({ client_id: client.client_id }, keyPair)
    const c = { client_id: client.client_id }
    const request = () => oauth.genericTokenEndpointRequest(as, c, oauth.ClientSecretBasic(client.client_secret),
      TOKEN_EXCHANGE, { subject_token: subject.result.access_token, subject_token_type: AT_TYPE, scope: 'mcp:read' },
      { ...insecure, DPoP })
    let result
    try {
      result = await oauth.processGenericTokenEndpointResponse(as, c, await request())
      assert.fail('expected a use_dpop_nonce challenge first')
    } catch (err) {
      if (!oauth.isDPoPNonceError(err)) throw err
      result = await oauth.processGenericTokenEndpointResponse(as, c, await request())
    }
    assert.equal(result.token_type, 'dpop')
    assert.equal(result.scope, 'mcp:read')
  })

  it('a proof with a made-up nonce is challenged again', async () => {
    const keyPair = await jose.generateKeyPair('ES256', { extractable: true })
    const p = await new jose.SignJWT({ htm: 'POST', htu: as.token_endpoint, iat: now(), jti: crypto.randomUUID(), nonce: 'made-up' })
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: await jose.exportJWK(keyPair.publicKey) })
      .sign(keyPair.privateKey)
    const res = await postForm(as.token_endpoint, { grant_type: 'client_credentials' },
      { authorization: basic(client.client_id, client.client_secret), dpop: p })
    assert.equal(res.status, 400, res.text)
    assert.equal(res.json.error, 'use_dpop_nonce')
    assert.ok(res.headers.get('dpop-nonce'))
    // a 400 from the token endpoint carries the error in its body only (issue 14)
    assert.equal(res.headers.get('www-authenticate'), null)
    assert.equal(res.json.access_token, undefined)
  })

  it('a hand-built proof carrying the server nonce is accepted, and DPoP responses carry a nonce', async () => {
    const keyPair = await jose.generateKeyPair('ES256', { extractable: true })
    const jwk = await jose.exportJWK(keyPair.publicKey)
    const auth = { authorization: basic(client.client_id, client.client_secret) }
    const make = (nonce) => new jose.SignJWT({ htm: 'POST', htu: as.token_endpoint, iat: now(), jti: crypto.randomUUID(), nonce })
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk })
      .sign(keyPair.privateKey)
    const challenge = await postForm(as.token_endpoint, { grant_type: 'client_credentials' },
      { ...auth, dpop: await make(undefined) })
    assert.equal(challenge.json.error, 'use_dpop_nonce')
    const nonce = challenge.headers.get('dpop-nonce')
    const ok = await postForm(as.token_endpoint, { grant_type: 'client_credentials' }, { ...auth, dpop: await make(nonce) })
    assert.equal(ok.status, 200, ok.text)
    assert.equal(ok.json.token_type, 'DPoP')
    assert.ok(ok.headers.get('dpop-nonce'))
    // An invalid proof is invalid_dpop_proof (not a nonce challenge) and still gets a nonce.
    const bad = await postForm(as.token_endpoint, { grant_type: 'client_credentials' }, { ...auth, dpop: 'x.y.z' })
    assert.equal(bad.status, 400)
    assert.equal(bad.json.error, 'invalid_dpop_proof')
    assert.ok(bad.headers.get('dpop-nonce'), 'DPoP-Nonce on an invalid_dpop_proof response')
  })

  it('a request without DPoP still gets a Bearer token', async () => {
    const r = await attempt(undefined)
    assert.equal(r.error, undefined, String(r.error))
    assert.equal(r.result.token_type, 'bearer')
  })
})
