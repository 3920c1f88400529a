// Discovery, client_credentials with the three client authentication methods,
// introspection, revocation and the client-auth / form error cases, all driven
// by oauth4webapi and checked with jose against the real server.
import { describe, it, before } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import * as oauth from 'oauth4webapi'
import * as jose from 'jose'
import {
  useShark, discover, register, insecure, postForm, basic, TOKEN_EXCHANGE, AT_TYPE,
} from './shark.mjs'

describe('core', () => {
  let as, jwks
  const shark = useShark([], async () => {
    as = await discover(shark)
    jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri))
  })

  async function ccToken(client, auth, params = {}, options = {}) {
    const res = await oauth.clientCredentialsGrantRequest(as, { client_id: client.client_id }, auth, params,
      { ...insecure, ...options })
    return oauth.processClientCredentialsResponse(as, { client_id: client.client_id }, res)
  }

  async function verifyAccessToken(token, audience) {
    return jose.jwtVerify(token, jwks, { issuer: shark.issuer, audience, typ: 'at+jwt', algorithms: ['ES256'] })
  }

  // Asserts that a library call rejected with an OAuth error of this code.
  async function rejectsWith(promise, code, status) {
    await assert.rejects(promise, (err) => {
      if (err instanceof oauth.ResponseBodyError) {
        assert.equal(err.error, code, `error code; body ${JSON.stringify(err.cause)}`)
        assert.equal(err.status, status)
        return true
      }
      if (err instanceof oauth.WWWAuthenticateChallengeError) {
        assert.equal(err.status, status)
        assert.ok(err.cause.some((ch) => ch.parameters.error === code), JSON.stringify(err.cause))
        return true
      }
      throw err
    })
  }

  describe('discovery', () => {
    it('RFC 8414 metadata through oauth4webapi (oauth2 and oidc well-known URLs)', async () => {
      assert.equal(as.issuer, shark.issuer)
      assert.equal(as.token_endpoint, `${shark.issuer}/oauth/token`)
      assert.ok(as.jwks_uri.startsWith(shark.issuer))
      assert.ok(as.registration_endpoint)
      assert.ok(as.introspection_endpoint)
      assert.ok(as.revocation_endpoint)
      for (const g of ['client_credentials', TOKEN_EXCHANGE]) assert.ok(as.grant_types_supported.includes(g), g)
      for (const m of ['client_secret_basic', 'client_secret_post', 'private_key_jwt']) {
        assert.ok(as.token_endpoint_auth_methods_supported.includes(m), m)
      }
      assert.ok(as.dpop_signing_alg_values_supported.includes('ES256'))
      assert.deepEqual(as.code_challenge_methods_supported, ['S256'])

      const issuer = new URL(shark.issuer)
      const oidc = await oauth.processDiscoveryResponse(issuer,
        await oauth.discoveryRequest(issuer, { algorithm: 'oidc', ...insecure }))
      assert.equal(oidc.issuer, as.issuer)
      assert.equal(oidc.token_endpoint, as.token_endpoint)
      assert.equal(oidc.jwks_uri, as.jwks_uri)
    })

    it('JWKS has ES256 public keys and the RS256 id_token key, with kid and no private parts', async () => {
      const res = await fetch(as.jwks_uri)
      assert.equal(res.status, 200)
      const { keys } = await res.json()
      assert.ok(keys.some((k) => k.kty === 'EC'), 'an ES256 key')
      assert.ok(keys.some((k) => k.kty === 'RSA'), 'an RS256 key (OpenID Connect)')
      for (const k of keys) {
        assert.ok(k.kid, 'kid')
        for (const part of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(k[part], undefined, 'no private key in JWKS')
        if (k.kty === 'EC') assert.equal(k.crv, 'P-256')
        await jose.importJWK(k, k.kty === 'EC' ? 'ES256' : 'RS256')
      }
    })
  })

  describe('client_credentials', () => {
    let basicClient, postClient

    before(async () => {
      basicClient = await register(as, {
        client_name: 'basic', token_endpoint_auth_method: 'client_secret_basic',
        resources: ['https://mcp.example.com/api', 'https://rs.example.com/'],
      })
      postClient = await register(as, {
        client_name: 'post', token_endpoint_auth_method: 'client_secret_post', resources: ['urn:example:mcp-server'],
      })
    })

    it('registration returns credentials', () => {
      for (const c of [basicClient, postClient]) {
        assert.match(c.client_id, /\S/)
        assert.match(c.client_secret, /\S/)
        assert.match(c.registration_access_token, /\S/)
      }
      assert.notEqual(basicClient.client_id, postClient.client_id)
    })

    it('client_secret_basic: token verifies with jose against the remote JWKS', async () => {
      const tr = await ccToken(basicClient, oauth.ClientSecretBasic(basicClient.client_secret), { scope: 'mcp:read' })
      assert.equal(tr.token_type, 'bearer')
      assert.ok(tr.expires_in > 0)
      assert.equal(tr.scope, 'mcp:read')
      const { payload, protectedHeader } = await verifyAccessToken(tr.access_token, shark.issuer)
      assert.equal(protectedHeader.typ, 'at+jwt')
      assert.ok(protectedHeader.kid)
      assert.equal(payload.iss, shark.issuer)
      assert.equal(payload.aud, shark.issuer)
      assert.equal(payload.client_id, basicClient.client_id)
      assert.equal(payload.sub, basicClient.client_id)
      assert.equal(payload.scope, 'mcp:read')
      assert.ok(payload.jti)
      assert.ok(payload.exp > payload.iat)
      assert.equal(payload.cnf, undefined)
      assert.equal(payload.act, undefined)
    })

    it('client_secret_post: no scope asked gives all registered scopes', async () => {
      const tr = await ccToken(postClient, oauth.ClientSecretPost(postClient.client_secret))
      assert.equal(tr.token_type, 'bearer')
      const { payload } = await verifyAccessToken(tr.access_token, shark.issuer)
      assert.equal(payload.client_id, postClient.client_id)
      assert.deepEqual(payload.scope.split(' ').sort(), ['mcp:read', 'mcp:write'])
    })

    it('a resource indicator (RFC 8707) sets aud', async () => {
      const resource = 'https://mcp.example.com/api'
      const tr = await ccToken(basicClient, oauth.ClientSecretBasic(basicClient.client_secret), { resource })
      const { payload } = await verifyAccessToken(tr.access_token, resource)
      assert.equal(payload.aud, resource)
      await assert.rejects(verifyAccessToken(tr.access_token, shark.issuer), /aud/)
    })

    it('audience (RFC 8693 style) sets aud', async () => {
      const audience = 'urn:example:mcp-server'
      const tr = await ccToken(postClient, oauth.ClientSecretPost(postClient.client_secret), { audience })
      const { payload } = await verifyAccessToken(tr.access_token, audience)
      assert.equal(payload.aud, audience)
    })

    it('oauth4webapi validateJwtAccessToken (RFC 9068) accepts a bearer token', async () => {
      const tr = await ccToken(basicClient, oauth.ClientSecretBasic(basicClient.client_secret),
        { resource: 'https://rs.example.com/' })
      const request = new Request('https://rs.example.com/thing', {
        headers: { authorization: `Bearer ${tr.access_token}` },
      })
      const claims = await oauth.validateJwtAccessToken(as, request, 'https://rs.example.com/', insecure)
      assert.equal(claims.client_id, basicClient.client_id)
      assert.equal(claims.iss, shark.issuer)
    })

    it('scope beyond the registered scope is refused with invalid_scope', async () => {
      await rejectsWith(ccToken(basicClient, oauth.ClientSecretBasic(basicClient.client_secret),
        { scope: 'mcp:read admin:all' }), 'invalid_scope', 400)
    })
  })

  describe('private_key_jwt', () => {
    let client, privateKey, kid

    before(async () => {
      const kp = await jose.generateKeyPair('ES256', { extractable: true })
      privateKey = kp.privateKey
      const jwk = await jose.exportJWK(kp.publicKey)
      kid = await jose.calculateJwkThumbprint(jwk)
      client = await register(as, {
        client_name: 'pkjwt',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [{ ...jwk, kid, alg: 'ES256', use: 'sig' }] },
      })
    })

    it('registration returns no client_secret', () => {
      assert.equal(client.client_secret, undefined)
      assert.equal(client.token_endpoint_auth_method, 'private_key_jwt')
    })

    it('oauth4webapi PrivateKeyJwt authenticates', async () => {
      const tr = await ccToken(client, oauth.PrivateKeyJwt({ key: privateKey, kid }), { scope: 'mcp:write' })
      const { payload } = await verifyAccessToken(tr.access_token, shark.issuer)
      assert.equal(payload.client_id, client.client_id)
      assert.equal(payload.scope, 'mcp:write')
    })

    it('an Ed25519 client authenticates with oauth4webapi PrivateKeyJwt (alg "Ed25519", RFC 9864)', async () => {
      const kp = await oauth.generateKeyPair('EdDSA', { extractable: true })
      const jwk = await jose.exportJWK(kp.publicKey)
      const ed = await register(as, {
        client_name: 'pkjwt-ed25519', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ ...jwk, kid: 'ed' }] },
      })
      const tr = await ccToken(ed, oauth.PrivateKeyJwt({ key: kp.privateKey, kid: 'ed' }))
      const { payload } = await verifyAccessToken(tr.access_token, shark.issuer)
      assert.equal(payload.client_id, ed.client_id)
    })

    it('an Ed25519 client assertion with alg "EdDSA" (built with jose) authenticates', async () => {
      const kp = await jose.generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
      const jwk = await jose.exportJWK(kp.publicKey)
      const ed = await register(as, {
        client_name: 'pkjwt-eddsa', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ ...jwk, kid: 'ed' }] },
      })
      const assertion = await new jose.SignJWT({})
        .setProtectedHeader({ alg: 'EdDSA', kid: 'ed' })
        .setIssuer(ed.client_id).setSubject(ed.client_id).setAudience(shark.issuer)
        .setIssuedAt().setExpirationTime('1m').setJti(crypto.randomUUID())
        .sign(kp.privateKey)
      const res = await postForm(as.token_endpoint, {
        grant_type: 'client_credentials', client_id: ed.client_id,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion,
      })
      assert.equal(res.status, 200, res.text)
      assert.equal(res.json.token_type, 'Bearer')
    })

    it('a replayed client assertion is refused with 401 invalid_client', async () => {
      // Capture exactly what oauth4webapi sent, then send the same body again.
      let sent = null
      const capture = async (url, init) => {
        sent = { url, body: init.body, headers: init.headers }
        return fetch(url, init)
      }
      const res = await oauth.clientCredentialsGrantRequest(as, { client_id: client.client_id },
        oauth.PrivateKeyJwt({ key: privateKey, kid }), {}, { ...insecure, [oauth.customFetch]: capture })
      await oauth.processClientCredentialsResponse(as, { client_id: client.client_id }, res)
      const body = new URLSearchParams(sent.body)
      assert.ok(body.get('client_assertion'))
      const again = await postForm(sent.url, body.toString())
      assert.equal(again.status, 401, again.text)
      assert.equal(again.json?.error, 'invalid_client')
      assert.equal(again.json?.access_token, undefined)
    })

    it('an assertion signed by another key is refused with 401 invalid_client', async () => {
      const other = await jose.generateKeyPair('ES256')
      const res = await oauth.clientCredentialsGrantRequest(as, { client_id: client.client_id },
        oauth.PrivateKeyJwt({ key: other.privateKey, kid }), {}, insecure)
      assert.equal(res.status, 401)
      assert.equal((await res.json()).error, 'invalid_client')
    })

    it('an assertion with the wrong aud is refused with 401 invalid_client', async () => {
      const res = await oauth.clientCredentialsGrantRequest(as, { client_id: client.client_id },
        oauth.PrivateKeyJwt({ key: privateKey, kid }, {
          [oauth.modifyAssertion]: (header, payload) => { payload.aud = 'https://elsewhere.example.com' },
        }), {}, insecure)
      assert.equal(res.status, 401)
      assert.equal((await res.json()).error, 'invalid_client')
    })
  })

  describe('introspection and revocation', () => {
    let client, auth

    before(async () => {
      client = await register(as, { client_name: 'introspect', token_endpoint_auth_method: 'client_secret_basic' })
      auth = oauth.ClientSecretBasic(client.client_secret)
    })

    async function introspect(token, c = client, a = auth) {
      const res = await oauth.introspectionRequest(as, { client_id: c.client_id }, a, token, insecure)
      return oauth.processIntrospectionResponse(as, { client_id: c.client_id }, res)
    }

    it('an issued token is active with its claims', async () => {
      const tr = await ccToken(client, auth, { scope: 'mcp:read' })
      const { payload } = await verifyAccessToken(tr.access_token, shark.issuer)
      const ir = await introspect(tr.access_token)
      assert.equal(ir.active, true)
      assert.equal(ir.client_id, client.client_id)
      assert.equal(ir.scope, 'mcp:read')
      assert.equal(ir.sub, payload.sub)
      assert.equal(ir.iss, shark.issuer)
      assert.equal(ir.exp, payload.exp)
      assert.equal(ir.jti, payload.jti)
      assert.match(String(ir.token_type), /^bearer$/i)
    })

    it('the admin key may introspect', async () => {
      const tr = await ccToken(client, auth)
      const res = await postForm(as.introspection_endpoint, { token: tr.access_token },
        { authorization: `Bearer ${shark.adminKey}` })
      assert.equal(res.status, 200, res.text)
      assert.equal(res.json.active, true)
      assert.equal(res.json.client_id, client.client_id)
    })

    it('garbage is inactive; no client auth is 401', async () => {
      const ir = await introspect('not-a-token')
      assert.deepEqual(ir, { active: false })
      const res = await postForm(as.introspection_endpoint, { token: 'x' })
      assert.equal(res.status, 401, res.text)
    })

    it('after revocation: inactive, and unusable as subject_token', async () => {
      const tr = await ccToken(client, auth)
      assert.equal((await introspect(tr.access_token)).active, true)
      const rr = await oauth.revocationRequest(as, { client_id: client.client_id }, auth, tr.access_token, insecure)
      assert.equal(rr.status, 200)
      await oauth.processRevocationResponse(rr)
      assert.deepEqual(await introspect(tr.access_token), { active: false })
      const admin = await postForm(as.introspection_endpoint, { token: tr.access_token },
        { authorization: `Bearer ${shark.adminKey}` })
      assert.deepEqual(admin.json, { active: false })

      const ex = await oauth.genericTokenEndpointRequest(as, { client_id: client.client_id }, auth, TOKEN_EXCHANGE,
        { subject_token: tr.access_token, subject_token_type: AT_TYPE }, insecure)
      await rejectsWith(oauth.processGenericTokenEndpointResponse(as, { client_id: client.client_id }, ex),
        'invalid_grant', 400)
    })

    it('another client may not revoke the token (RFC 7009 §2.1)', async () => {
      const other = await register(as, { client_name: 'other' })
      const tr = await ccToken(client, auth)
      const rr = await oauth.revocationRequest(as, { client_id: other.client_id },
        oauth.ClientSecretBasic(other.client_secret), tr.access_token, insecure)
      assert.equal(rr.status, 400)
      assert.equal((await rr.json()).error, 'unauthorized_client')
      assert.equal((await introspect(tr.access_token)).active, true, 'still active')
    })

    it('introspecting a DPoP-bound token shows token_type DPoP and cnf.jkt', async () => {
      const keyPair = await oauth.generateKeyPair('ES256', { extractable: true })
      const tr = await ccToken(client, auth, {}, { DPoP: oauth.DPoP({ client_id: client.client_id }, keyPair) })
      const ir = await introspect(tr.access_token)
      assert.equal(ir.active, true)
      assert.equal(ir.token_type, 'DPoP')
      assert.equal(ir.cnf?.jkt, await jose.calculateJwkThumbprint(await jose.exportJWK(keyPair.publicKey)))
    })

    it('revoking an unknown token still answers 200 (RFC 7009 §2.2)', async () => {
      const rr = await oauth.revocationRequest(as, { client_id: client.client_id }, auth, 'no-such-token', insecure)
      assert.equal(rr.status, 200)
      await oauth.processRevocationResponse(rr)
    })
  })

  describe('client authentication and request errors', () => {
    let client

    before(async () => {
      client = await register(as, { client_name: 'neg', token_endpoint_auth_method: 'client_secret_basic' })
    })

    it('wrong secret: 401 invalid_client with WWW-Authenticate (RFC 6749 §5.2)', async () => {
      const res = await oauth.clientCredentialsGrantRequest(as, { client_id: client.client_id },
        oauth.ClientSecretBasic(client.client_secret + 'x'), {}, insecure)
      assert.equal(res.status, 401)
      const body = await res.json()
      assert.equal(body.error, 'invalid_client')
      assert.equal(body.access_token, undefined)
      assert.match(res.headers.get('www-authenticate') ?? '', /^Basic/i)
    })

    it('wrong secret via client_secret_post: 401 invalid_client', async () => {
      const res = await postForm(as.token_endpoint, {
        grant_type: 'client_credentials', client_id: client.client_id, client_secret: 'nope',
      })
      assert.equal(res.status, 401, res.text)
      assert.equal(res.json.error, 'invalid_client')
    })

    it('unknown client: 401 invalid_client', async () => {
      const res = await oauth.clientCredentialsGrantRequest(as, { client_id: 'client_doesnotexist' },
        oauth.ClientSecretBasic('whatever'), {}, insecure)
      assert.equal(res.status, 401)
      assert.equal((await res.json()).error, 'invalid_client')
    })

    it('a duplicated parameter is 400 invalid_request (RFC 6749 §3.2)', async () => {
      const auth = { authorization: basic(client.client_id, client.client_secret) }
      for (const body of [
        'grant_type=client_credentials&scope=mcp:read&scope=mcp:write',
        'grant_type=client_credentials&grant_type=client_credentials',
      ]) {
        const res = await postForm(as.token_endpoint, body, auth)
        assert.equal(res.status, 400, `${body}: ${res.text}`)
        assert.equal(res.json?.error, 'invalid_request', body)
        assert.equal(res.json?.access_token, undefined)
      }
    })

    it('unsupported grant type and missing grant type', async () => {
      const auth = { authorization: basic(client.client_id, client.client_secret) }
      let res = await postForm(as.token_endpoint, { grant_type: 'password', username: 'a', password: 'b' }, auth)
      assert.equal(res.status, 400, res.text)
      assert.equal(res.json.error, 'unsupported_grant_type')
      res = await postForm(as.token_endpoint, { scope: 'mcp:read' }, auth)
      assert.equal(res.status, 400, res.text)
      assert.equal(res.json.error, 'invalid_request')
    })

    it('a client registered without the token-exchange grant may not exchange: unauthorized_client', async () => {
      const ccOnly = await register(as, { client_name: 'cc-only', grant_types: ['client_credentials'] })
      const subject = await ccToken(client, oauth.ClientSecretBasic(client.client_secret))
      const res = await oauth.genericTokenEndpointRequest(as, { client_id: ccOnly.client_id },
        oauth.ClientSecretBasic(ccOnly.client_secret), TOKEN_EXCHANGE,
        { subject_token: subject.access_token, subject_token_type: AT_TYPE }, insecure)
      await rejectsWith(oauth.processGenericTokenEndpointResponse(as, { client_id: ccOnly.client_id }, res),
        'unauthorized_client', 400)
    })

    it('a public client (auth method none) may not register for client_credentials', async () => {
      const res = await oauth.dynamicClientRegistrationRequest(as, {
        grant_types: ['client_credentials'], token_endpoint_auth_method: 'none', scope: 'mcp:read',
      }, insecure)
      assert.equal(res.status, 400)
      assert.equal((await res.json()).error, 'invalid_client_metadata')
    })

    it('two client authentication methods at once is refused', async () => {
      const res = await postForm(as.token_endpoint, {
        grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret,
      }, { authorization: basic(client.client_id, client.client_secret) })
      // RFC 6749 §2.3: more than one method is a malformed request, refused before either is tried
      assert.equal(res.status, 400, res.text)
      assert.equal(res.json.error, 'invalid_request', res.text)
    })
  })
})
