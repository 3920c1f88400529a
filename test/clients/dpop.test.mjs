// DPoP-bound tokens (RFC 9449) through oauth4webapi's DPoP handle, hand-built
// proofs for replay and the invalid-proof cases, and a three-hop token
// exchange chain (RFC 8693) whose act claims are checked with jose.
import { describe, it, before } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import * as oauth from 'oauth4webapi'
import * as jose from 'jose'
import { useShark, discover, register, insecure, postForm, basic, TOKEN_EXCHANGE, AT_TYPE } from './shark.mjs'

const now = () => Math.floor(Date.now() / 1000)
const b64u = (x) => Buffer.from(typeof x === 'string' ? x : JSON.stringify(x)).toString('base64url')

// A DPoP proof built by hand with jose (for replays and malformed proofs).
async function proof(keyPair, { htm = 'POST', htu, iat = now(), jti = crypto.randomUUID(), nonce, alg = 'ES256', header = {} } = {}) {
  const jwk = await jose.exportJWK(keyPair.publicKey)
  const payload = { htm, htu, iat, jti }
  if (nonce !== undefined) payload.nonce = nonce
  return new jose.SignJWT(payload)
    .setProtectedHeader({ typ: 'dpop+jwt', alg, jwk, ...header })
    .sign(keyPair.privateKey)
}

describe('dpop', () => {
  let as, jwks
  const shark = useShark([], async () => {
    as = await discover(shark)
    jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri))
  })

  const verify = (token, audience = shark.issuer) =>
    jose.jwtVerify(token, jwks, { issuer: shark.issuer, audience, typ: 'at+jwt' })

  async function cc(client, params = {}, options = {}) {
    const c = { client_id: client.client_id }
    const res = await oauth.clientCredentialsGrantRequest(as, c, oauth.ClientSecretBasic(client.client_secret),
      params, { ...insecure, ...options })
    return oauth.processClientCredentialsResponse(as, c, res)
  }

  async function exchange(client, params, options = {}) {
    const c = { client_id: client.client_id }
    const res = await oauth.genericTokenEndpointRequest(as, c, oauth.ClientSecretBasic(client.client_secret),
      TOKEN_EXCHANGE, { subject_token_type: AT_TYPE, ...params }, { ...insecure, ...options })
    return oauth.processGenericTokenEndpointResponse(as, c, res)
  }

  async function rejectsWithCode(promise, code) {
    await assert.rejects(promise, (err) => {
      if (err instanceof oauth.ResponseBodyError || err instanceof oauth.WWWAuthenticateChallengeError) {
        const body = err instanceof oauth.ResponseBodyError ? err.cause : null
        if (body) assert.equal(body.error, code, JSON.stringify(body))
        else assert.ok(err.cause.some((ch) => ch.parameters.error === code), JSON.stringify(err.cause))
        assert.equal(err.status, 400)
        return true
      }
      throw err
    })
  }

  describe('DPoP-bound client_credentials', () => {
    let client

    before(async () => {
      client = await register(as, { client_name: 'dpop', resources: ['https://rs.example.com/'] })
    })

    // oauth4webapi 3.x signs Ed25519 proofs with the fully-specified alg
    // "Ed25519" (RFC 9864).
    for (const alg of ['ES256', 'EdDSA', 'RS256', 'PS256']) {
      it(`oauth4webapi DPoP handle (${alg}): token_type DPoP and cnf.jkt is the key thumbprint`,
        async () => {
        const keyPair = await oauth.generateKeyPair(alg, { extractable: true })
        const DPoP = oauth.DPoP({ client_id: client.client_id }, keyPair)
        const tr = await cc(client, { scope: 'mcp:read' }, { DPoP })
        assert.equal(tr.token_type, 'dpop')
        const { payload } = await verify(tr.access_token)
        const jkt = await jose.calculateJwkThumbprint(await jose.exportJWK(keyPair.publicKey), 'sha256')
        assert.equal(payload.cnf?.jkt, jkt)
        assert.equal(payload.scope, 'mcp:read')
      })
    }

    it('a jose-built Ed25519 proof with alg "EdDSA" binds the token', async () => {
      const keyPair = await jose.generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
      const res = await postForm(as.token_endpoint, { grant_type: 'client_credentials' }, {
        authorization: basic(client.client_id, client.client_secret),
        dpop: await proof(keyPair, { alg: 'EdDSA', htu: as.token_endpoint }),
      })
      assert.equal(res.status, 200, res.text)
      assert.equal(res.json.token_type, 'DPoP')
      const { payload } = await verify(res.json.access_token)
      assert.equal(payload.cnf?.jkt, await jose.calculateJwkThumbprint(await jose.exportJWK(keyPair.publicKey)))
    })

    it('oauth4webapi validateJwtAccessToken (RFC 9068 + DPoP) accepts the token at a resource', async () => {
      const keyPair = await oauth.generateKeyPair('ES256', { extractable: true })
      const DPoP = oauth.DPoP({ client_id: client.client_id }, keyPair)
      const rs = 'https://rs.example.com/'
      const tr = await cc(client, { resource: rs }, { DPoP })
      const url = `${rs}tools/list`
      const ath = crypto.createHash('sha256').update(tr.access_token).digest('base64url')
      const rsProof = await new jose.SignJWT({ htm: 'GET', htu: url, iat: now(), jti: crypto.randomUUID(), ath })
        .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: await jose.exportJWK(keyPair.publicKey) })
        .sign(keyPair.privateKey)
      const request = new Request(url, { headers: { authorization: `DPoP ${tr.access_token}`, dpop: rsProof } })
      const claims = await oauth.validateJwtAccessToken(as, request, rs, insecure)
      assert.equal(claims.client_id, client.client_id)
      assert.ok(claims.cnf?.jkt)
    })

    it('a replayed proof (same jti and key) is refused: 400 invalid_dpop_proof', async () => {
      const keyPair = await jose.generateKeyPair('ES256', { extractable: true })
      const p = await proof(keyPair, { htu: as.token_endpoint })
      const headers = { authorization: basic(client.client_id, client.client_secret), dpop: p }
      const first = await postForm(as.token_endpoint, { grant_type: 'client_credentials' }, headers)
      assert.equal(first.status, 200, first.text)
      assert.equal(first.json.token_type, 'DPoP')
      const second = await postForm(as.token_endpoint, { grant_type: 'client_credentials' }, headers)
      assert.equal(second.status, 400, second.text)
      assert.equal(second.json.error, 'invalid_dpop_proof')
      assert.equal(second.json.access_token, undefined)
    })

    it('the same proof sent 8 times concurrently gets exactly one token', async () => {
      const keyPair = await jose.generateKeyPair('ES256', { extractable: true })
      const p = await proof(keyPair, { htu: as.token_endpoint })
      const headers = { authorization: basic(client.client_id, client.client_secret), dpop: p }
      const results = await Promise.all(Array.from({ length: 8 },
        () => postForm(as.token_endpoint, { grant_type: 'client_credentials' }, headers)))
      const ok = results.filter((r) => r.status === 200)
      assert.equal(ok.length, 1, results.map((r) => `${r.status} ${r.json?.error}`).join(', '))
      for (const r of results.filter((r) => r.status !== 200)) {
        assert.equal(r.status, 400)
        assert.equal(r.json.error, 'invalid_dpop_proof')
      }
    })

    it('the same jti under a different key is a different proof', async () => {
      const jti = crypto.randomUUID()
      for (let i = 0; i < 2; i++) {
        const keyPair = await jose.generateKeyPair('ES256', { extractable: true })
        const res = await postForm(as.token_endpoint, { grant_type: 'client_credentials' }, {
          authorization: basic(client.client_id, client.client_secret),
          dpop: await proof(keyPair, { htu: as.token_endpoint, jti }),
        })
        assert.equal(res.status, 200, res.text)
      }
    })

    describe('invalid proofs: 400 invalid_dpop_proof and no token', () => {
      let keyPair
      before(async () => {
        keyPair = await jose.generateKeyPair('ES256', { extractable: true })
      })

      const cases = {
        'alg none': async () => {
          const jwk = await jose.exportJWK(keyPair.publicKey)
          return `${b64u({ typ: 'dpop+jwt', alg: 'none', jwk })}.${b64u({ htm: 'POST', htu: as.token_endpoint, iat: now(), jti: crypto.randomUUID() })}.`
        },
        'HS256 (symmetric)': async () => {
          const secret = crypto.randomBytes(32)
          return new jose.SignJWT({ htm: 'POST', htu: as.token_endpoint, iat: now(), jti: crypto.randomUUID() })
            .setProtectedHeader({ typ: 'dpop+jwt', alg: 'HS256', jwk: { kty: 'oct', k: secret.toString('base64url') } })
            .sign(secret)
        },
        'HS256 with an EC public jwk in the header': async () => {
          const secret = crypto.randomBytes(32)
          return new jose.SignJWT({ htm: 'POST', htu: as.token_endpoint, iat: now(), jti: crypto.randomUUID() })
            .setProtectedHeader({ typ: 'dpop+jwt', alg: 'HS256', jwk: await jose.exportJWK(keyPair.publicKey) })
            .sign(secret)
        },
        'private key material ("d") in the jwk header': async () => {
          const priv = await jose.exportJWK(keyPair.privateKey)
          assert.ok(priv.d)
          return proof(keyPair, { htu: as.token_endpoint, header: { jwk: priv } })
        },
        'wrong htm (GET)': () => proof(keyPair, { htm: 'GET', htu: as.token_endpoint }),
        'htm in lower case (methods are case-sensitive)': () => proof(keyPair, { htm: 'post', htu: as.token_endpoint }),
        'wrong htu (other endpoint)': () => proof(keyPair, { htu: `${shark.issuer}/oauth/introspect` }),
        'wrong htu (trailing slash)': () => proof(keyPair, { htu: `${as.token_endpoint}/` }),
        'wrong htu (other host)': () => proof(keyPair, { htu: 'https://evil.example.com/oauth/token' }),
        'stale iat (10 minutes old)': () => proof(keyPair, { htu: as.token_endpoint, iat: now() - 600 }),
        'iat 10 minutes in the future': () => proof(keyPair, { htu: as.token_endpoint, iat: now() + 600 }),
        'typ jwt instead of dpop+jwt': () => proof(keyPair, { htu: as.token_endpoint, header: { typ: 'JWT' } }),
        'no jti': async () => new jose.SignJWT({ htm: 'POST', htu: as.token_endpoint, iat: now() })
          .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk: await jose.exportJWK(keyPair.publicKey) })
          .sign(keyPair.privateKey),
        'signed by a key other than the jwk header': async () => {
          const other = await jose.generateKeyPair('ES256', { extractable: true })
          return proof(other, { htu: as.token_endpoint, header: { jwk: await jose.exportJWK(keyPair.publicKey) } })
        },
        'not a JWT': async () => 'this.is.not-a-jwt',
      }

      for (const [name, make] of Object.entries(cases)) {
        it(name, async () => {
          const p = await make()
          const res = await postForm(as.token_endpoint, { grant_type: 'client_credentials' },
            { authorization: basic(client.client_id, client.client_secret), dpop: p })
          assert.equal(res.status, 400, res.text)
          assert.equal(res.json?.error, 'invalid_dpop_proof', res.text)
          assert.equal(res.json?.access_token, undefined)
        })
      }

      it('two DPoP headers', async () => {
        const p1 = await proof(keyPair, { htu: as.token_endpoint })
        const p2 = await proof(keyPair, { htu: as.token_endpoint })
        const h = new Headers({ authorization: basic(client.client_id, client.client_secret), 'content-type': 'application/x-www-form-urlencoded' })
        h.append('dpop', p1)
        h.append('dpop', p2)
        const res = await fetch(as.token_endpoint, { method: 'POST', headers: h, body: 'grant_type=client_credentials' })
        const body = await res.json()
        assert.equal(res.status, 400, JSON.stringify(body))
        // RFC 9449 §4.3: not more than one DPoP header field, else the proof is invalid
        assert.equal(body.error, 'invalid_dpop_proof', JSON.stringify(body))
      })
    })
  })

  describe('three-hop token exchange chain', () => {
    let X, A, B, tx, ta, tb, keyA, jktA, keyB, jktB

    before(async () => {
      ;[X, A, B] = await Promise.all(['X', 'A', 'B'].map((n) =>
        register(as, { client_name: `chain-${n}`, resources: ['https://mcp.example.com/'] })))
      keyA = await oauth.generateKeyPair('ES256', { extractable: true })
      jktA = await jose.calculateJwkThumbprint(await jose.exportJWK(keyA.publicKey))
      keyB = await oauth.generateKeyPair('ES256', { extractable: true })
      jktB = await jose.calculateJwkThumbprint(await jose.exportJWK(keyB.publicKey))
    })

    it('X gets the subject token, handed to A (aud = A\'s client_id)', async () => {
      tx = await cc(X, { scope: 'mcp:read mcp:write', audience: A.client_id })
      const { payload } = await verify(tx.access_token, A.client_id)
      assert.equal(payload.sub, X.client_id)
      assert.equal(payload.aud, A.client_id)
      assert.equal(payload.act, undefined)
    })

    it('a token that does not name the caller cannot be exchanged by it (invalid_grant)', async () => {
      await rejectsWithCode(exchange(B, { subject_token: tx.access_token }), 'invalid_grant')
      const plain = await cc(X, { scope: 'mcp:read' })
      await rejectsWithCode(exchange(A, { subject_token: plain.access_token }), 'invalid_grant')
    })

    it('A exchanges it with DPoP, narrowing scope', async () => {
      const DPoP = oauth.DPoP({ client_id: A.client_id }, keyA)
      ta = await exchange(A, { subject_token: tx.access_token, scope: 'mcp:read', audience: B.client_id }, { DPoP })
      assert.equal(ta.token_type, 'dpop')
      assert.equal(ta.issued_token_type, AT_TYPE)
      assert.equal(ta.scope, 'mcp:read')
      const { payload } = await verify(ta.access_token, B.client_id)
      assert.ok(payload.exp <= (await verify(tx.access_token, A.client_id)).payload.exp)
      assert.equal(payload.sub, X.client_id)
      assert.equal(payload.client_id, A.client_id)
      assert.equal(payload.scope, 'mcp:read')
      assert.equal(payload.cnf?.jkt, jktA)
      assert.equal(payload.act?.sub, A.client_id)
      assert.equal(payload.act?.jkt, jktA)
      assert.equal(payload.act?.act, undefined)
    })

    it('widening scope in an exchange is invalid_scope', async () => {
      const DPoP = oauth.DPoP({ client_id: B.client_id }, keyB)
      await rejectsWithCode(exchange(B, { subject_token: ta.access_token, scope: 'mcp:read mcp:write' }, { DPoP }), 'invalid_scope')
    })

    it('a DPoP-bound subject token exchanged without a proof gets nothing (invalid_grant)', async () => {
      await rejectsWithCode(exchange(B, { subject_token: ta.access_token }), 'invalid_grant')
    })

    it('B exchanges A\'s token with its own proof: sub = X, act.sub = B, act.act.sub = A with A\'s jkt, bound to B\'s key', async () => {
      const resource = 'https://mcp.example.com/'
      const DPoP = oauth.DPoP({ client_id: B.client_id }, keyB)
      tb = await exchange(B, { subject_token: ta.access_token, resource }, { DPoP })
      assert.equal(tb.token_type, 'dpop')
      assert.equal(tb.issued_token_type, AT_TYPE)
      const { payload } = await verify(tb.access_token, resource)
      assert.equal(payload.iss, shark.issuer)
      assert.equal(payload.aud, resource)
      assert.equal(payload.sub, X.client_id)
      assert.equal(payload.client_id, B.client_id)
      assert.equal(payload.scope, 'mcp:read')
      assert.equal(payload.cnf?.jkt, jktB)
      assert.equal(payload.act?.sub, B.client_id)
      assert.equal(payload.act?.jkt, jktB)
      assert.equal(payload.act?.act?.sub, A.client_id)
      assert.equal(payload.act?.act?.jkt, jktA)
      assert.equal(payload.act?.act?.scope, 'mcp:read')
      assert.equal(payload.act?.act?.act, undefined)
    })

    it('the chain shows in introspection', async () => {
      const res = await oauth.introspectionRequest(as, { client_id: B.client_id },
        oauth.ClientSecretBasic(B.client_secret), tb.access_token, insecure)
      const ir = await oauth.processIntrospectionResponse(as, { client_id: B.client_id }, res)
      assert.equal(ir.active, true)
      assert.equal(ir.sub, X.client_id)
      assert.equal(ir.act?.sub, B.client_id)
      assert.equal(ir.act?.act?.sub, A.client_id)
    })

    it('actor_token without actor_token_type is invalid_request (RFC 8693 §2.1)', async () => {
      const own = await cc(B)
      await rejectsWithCode(exchange(B, { subject_token: tx.access_token, actor_token: own.access_token }), 'invalid_request')
    })

    it('an actor_token of the calling client is accepted', async () => {
      const own = await cc(B)
      const toB = await cc(X, { scope: 'mcp:read', audience: B.client_id })
      const r = await exchange(B, { subject_token: toB.access_token, actor_token: own.access_token, actor_token_type: AT_TYPE })
      const { payload } = await verify(r.access_token)
      assert.equal(payload.sub, X.client_id)
      assert.equal(payload.act?.sub, B.client_id)
    })

    it('the delegation depth is limited (default 5 act hops)', async () => {
      // Each hop hands the token on to the next caller.
      let t = tx.access_token
      for (let hop = 1; hop <= 5; hop++) {
        const next = hop % 2 ? B : A
        t = (await exchange(hop % 2 ? A : B, { subject_token: t, audience: next.client_id })).access_token
      }
      const { payload } = await verify(t, B.client_id)
      let depth = 0
      for (let a = payload.act; a; a = a.act) depth++
      assert.equal(depth, 5)
      await rejectsWithCode(exchange(B, { subject_token: t }), 'invalid_grant')
    })

    it('a garbage subject_token is invalid_grant', async () => {
      await rejectsWithCode(exchange(A, { subject_token: 'garbage' }), 'invalid_grant')
    })

    it('a subject_token signed by another issuer is invalid_grant', async () => {
      const { privateKey } = await jose.generateKeyPair('ES256')
      const forged = await new jose.SignJWT({ client_id: X.client_id, scope: 'mcp:read' })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'forged' })
        .setIssuer(shark.issuer).setSubject(X.client_id).setAudience(shark.issuer)
        .setIssuedAt().setExpirationTime('5m').setJti(crypto.randomUUID())
        .sign(privateKey)
      await rejectsWithCode(exchange(A, { subject_token: forged }), 'invalid_grant')
    })
  })
})
