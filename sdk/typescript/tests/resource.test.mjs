// The resource-server helper in front of a real node http server, with
// tokens from a real shark: RFC 9068 checks against the JWKS, DPoP proof
// checks (htm, htu, ath, iat window, jti replay, cnf.jkt), scopes,
// revocation through introspection, the WWW-Authenticate challenges and the
// RFC 9728 metadata; the middleware in (req, res, next), Fastify-reply and
// Fetch API shapes; and the customer-agents guide end to end.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import * as jose from 'jose'
import {
  Client, OAuthClient, DPoPProver, DPoPHTTPClient, ResourceServer, ReplayCache, verifyRequest, verifyToken, JWKSCache,
  VerifiedClaims, TokenVerificationError, SharkError,
} from '../dist/index.js'
import { useShark, signUp, uniq, userDelegatedToken, freePort } from './shark.mjs'

// A node http server: metadata, then the guard, then the handler.
async function serve(makeRs, requiredScopes = ['mcp:read']) {
  let rs
  const srv = http.createServer((req, res) => {
    rs.metadataMiddleware()(req, res, () => {
      const need = req.url.startsWith('/write') ? ['mcp:write'] : requiredScopes
      rs.middleware({ requiredScopes: need })(req, res, (err) => {
        if (err) { res.statusCode = 500; res.end(String(err)); return }
        let body = ''
        req.on('data', (c) => { body += c })
        req.on('end', () => {
          res.setHeader('content-type', 'application/json')
          res.end(JSON.stringify({ sub: req.auth.sub, clientId: req.auth.clientId, scopes: req.auth.scopes,
            chain: req.auth.delegationChain().map((h) => h.sub), jkt: req.auth.jkt, method: req.method, url: req.url,
            contentType: req.headers['content-type'] ?? null, body }))
        })
      })
    })
  })
  await new Promise((r) => srv.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${srv.address().port}`
  rs = makeRs(url)
  return { url, rs, close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(r) }) }
}

// Parameters of a WWW-Authenticate challenge, by name.
function challengeParams(h) {
  const out = { scheme: h.split(' ')[0] }
  for (const m of h.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) out[m[1]] = m[2]
  return out
}

describe('resource server', () => {
  const shark = useShark()
  let admin, app, agent, rsAgent, srv, prover, token

  const tokenFor = async (a, { scope = 'mcp:read', resource, p } = {}) => {
    p ??= await DPoPProver.generate()
    const t = await new OAuthClient(shark.url).getTokenWithDpop({ dpopProver: p, clientId: a.clientId, clientSecret: a.clientSecret, scope, resource })
    return { token: t.accessToken, prover: p }
  }

  before(async () => {
    admin = new Client({ baseUrl: shark.url, token: shark.adminKey })
    srv = await serve((url) => new ResourceServer({
      issuer: shark.url, resource: `${url}/`, requiredScopes: [], resourceName: 'Test MCP',
      scopesSupported: ['mcp:read', 'mcp:write'],
    }))
    app = await admin.apps.createApp({ name: uniq('mcp'), scopes: ['mcp:read', 'mcp:write'], resources: [`${srv.url}/`] })
    agent = await admin.agents.registerAgent({ appId: app.id, name: 'caller', scopes: ['mcp:read', 'mcp:write'] })
    rsAgent = await admin.agents.registerAgent({ appId: app.id, name: 'the resource server', resourceServer: true })
    ;({ token, prover } = await tokenFor(agent, { resource: `${srv.url}/` }))
  })
  after(() => srv?.close())

  const call = (path, t = token, p = prover, opts = {}) => new DPoPHTTPClient({ baseUrl: srv.url }).getWithDpop(path, { token: t, prover: p, ...opts })
  const raw = (path, headers = {}, method = 'GET') => fetch(`${srv.url}${path}`, { method, headers })
  async function refused(res, status, error) {
    // A fetch Response or a DPoPResponse (whose text() is already read).
    const text = typeof res.clone === 'function' ? await res.text() : res.text()
    assert.equal(res.status, status, text)
    const body = JSON.parse(text)
    assert.equal(body.error, error)
    const www = res.headers.get('www-authenticate')
    assert.ok(www, 'WWW-Authenticate is set')
    const c = challengeParams(www)
    assert.equal(c.resource_metadata, `${srv.url}/.well-known/oauth-protected-resource`)
    return c
  }

  it('serves RFC 9728 protected-resource metadata', async () => {
    const r = await raw('/.well-known/oauth-protected-resource')
    assert.equal(r.status, 200)
    assert.deepEqual(await r.json(), {
      resource: `${srv.url}/`, authorization_servers: [shark.url], bearer_methods_supported: ['header'],
      dpop_signing_alg_values_supported: ['ES256', 'EdDSA', 'RS256'], dpop_bound_access_tokens_required: true,
      scopes_supported: ['mcp:read', 'mcp:write'], resource_name: 'Test MCP',
    })
    // The authorization server it names is a real one.
    const as = await (await fetch(`${shark.url}/.well-known/oauth-authorization-server`)).json()
    assert.equal(as.issuer, shark.url)
    // A resource with a path gets the path-inserted URL (RFC 9728 §3.1).
    const rs = new ResourceServer({ issuer: shark.url, resource: 'https://mcp.example.com/mcp' })
    assert.equal(rs.resourceMetadataUrl, 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp')
  })

  it('a valid DPoP request passes and the handler gets verified claims', async () => {
    const res = await call('/resource')
    res.raiseForStatus()
    const body = res.json()
    assert.equal(body.sub, agent.clientId)
    assert.equal(body.clientId, agent.clientId)
    assert.deepEqual(body.scopes, ['mcp:read'])
    assert.deepEqual(body.chain, [])
    assert.equal(body.jkt, prover.jkt)
  })

  it('DPoPHTTPClient: every method gets its own proof (htm, htu, ath); params, json and form bodies arrive', async () => {
    const http2 = new DPoPHTTPClient({ baseUrl: srv.url })
    const o = { token, prover }
    const got = async (p) => (await p).raiseForStatus().json()
    assert.deepEqual(await got(http2.getWithDpop('/resource', { ...o, params: { q: 'a b', n: 2 } })).then((b) => [b.method, b.url]), ['GET', '/resource?q=a+b&n=2'])
    const put = await got(http2.putWithDpop('/resource', { ...o, json: { x: 1 } }))
    assert.deepEqual([put.method, put.contentType, put.body], ['PUT', 'application/json', '{"x":1}'])
    const patch = await got(http2.patchWithDpop('/resource', { ...o, data: { a: '1', b: 'two words' } }))
    assert.deepEqual([patch.method, patch.contentType, patch.body], ['PATCH', 'application/x-www-form-urlencoded', 'a=1&b=two+words'])
    const post = await got(http2.postWithDpop('/resource', { ...o, data: 'raw text', headers: { 'content-type': 'text/plain' } }))
    assert.deepEqual([post.method, post.contentType, post.body], ['POST', 'text/plain', 'raw text'])
    assert.equal((await got(http2.deleteWithDpop('/resource', o))).method, 'DELETE')
    assert.equal((await got(http2.requestWithDpop('options', `${srv.url}/resource`, o))).method, 'OPTIONS')
    const r = await http2.getWithDpop('/write', o)
    assert.equal(r.ok, false)
    assert.throws(() => r.raiseForStatus(), (e) => e instanceof SharkError && e.statusCode === 403 && /insufficient_scope/.test(e.message))
    await assert.rejects(http2.getWithDpop('/resource', { token }), TypeError)
    assert.throws(() => new DPoPHTTPClient({ baseUrl: 'mcp.example.com' }), TypeError)
  })

  it('no token: 401 with a DPoP challenge naming resource_metadata and algs, no error code', async () => {
    const r = await raw('/resource')
    assert.equal(r.status, 401)
    const c = challengeParams(r.headers.get('www-authenticate'))
    assert.equal(c.scheme, 'DPoP')
    assert.equal(c.error, undefined)
    assert.equal(c.algs, 'ES256 EdDSA RS256')
    assert.equal(c.resource_metadata, `${srv.url}/.well-known/oauth-protected-resource`)
    const other = await raw('/resource', { authorization: 'Basic dTpw' })
    assert.equal(other.status, 401)
  })

  it('a bearer token, or the DPoP-bound token sent as Bearer, is invalid_token', async () => {
    const bearer = await new OAuthClient(shark.url).getToken({ clientId: agent.clientId, clientSecret: agent.clientSecret, scope: 'mcp:read', resource: `${srv.url}/` })
    await refused(await raw('/resource', { authorization: `Bearer ${bearer.accessToken}` }), 401, 'invalid_token')
    await refused(await raw('/resource', { authorization: `Bearer ${token}` }), 401, 'invalid_token')
    // Authorization: DPoP with an unbound token.
    await refused(await raw('/resource', { authorization: `DPoP ${bearer.accessToken}`, dpop: await prover.makeProof('GET', `${srv.url}/resource`, { accessToken: bearer.accessToken }) }), 401, 'invalid_token')
  })

  it('proof checks: missing, replayed, wrong htm, wrong htu, wrong ath, another key, stale iat, not a dpop+jwt', async () => {
    const url = `${srv.url}/resource`
    const auth = { authorization: `DPoP ${token}` }
    await refused(await raw('/resource', auth), 401, 'invalid_dpop_proof')
    const proof = await prover.makeProof('GET', url, { accessToken: token })
    assert.equal((await raw('/resource', { ...auth, dpop: proof })).status, 200)
    const c = await refused(await raw('/resource', { ...auth, dpop: proof }), 401, 'invalid_dpop_proof')
    assert.match(c.error_description, /replayed/)
    await refused(await raw('/resource', { ...auth, dpop: await prover.makeProof('POST', url, { accessToken: token }) }), 401, 'invalid_dpop_proof')
    await refused(await raw('/resource', { ...auth, dpop: await prover.makeProof('GET', `${srv.url}/other`, { accessToken: token }) }), 401, 'invalid_dpop_proof')
    await refused(await raw('/resource', { ...auth, dpop: await prover.makeProof('GET', url, { accessToken: `${token}x` }) }), 401, 'invalid_dpop_proof')
    await refused(await raw('/resource', { ...auth, dpop: await prover.makeProof('GET', url) }), 401, 'invalid_dpop_proof')
    const thief = await DPoPProver.generate()
    const stolen = await refused(await raw('/resource', { ...auth, dpop: await thief.makeProof('GET', url, { accessToken: token }) }), 401, 'invalid_token')
    assert.match(stolen.error_description, /cnf\.jkt/)
    // Hand-built proofs: stale iat, wrong typ, a symmetric key.
    const { privateKey, publicKey } = await jose.generateKeyPair('ES256')
    const jwk = await jose.exportJWK(publicKey)
    const tokenThumb = await jose.calculateJwkThumbprint(jwk)
    assert.notEqual(tokenThumb, prover.jkt)
    const ath = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))).toString('base64url')
    const build = (claims, header = {}) => new jose.SignJWT({ htm: 'GET', htu: url, jti: crypto.randomUUID(), ath, ...claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk, ...header }).sign(privateKey)
    await refused(await raw('/resource', { ...auth, dpop: await build({ iat: Math.floor(Date.now() / 1000) - 600 }) }), 401, 'invalid_dpop_proof')
    await refused(await raw('/resource', { ...auth, dpop: await build({ iat: Math.floor(Date.now() / 1000) }, { typ: 'JWT' }) }), 401, 'invalid_dpop_proof')
    await refused(await raw('/resource', { ...auth, dpop: 'not.a.proof' }), 401, 'invalid_dpop_proof')
    // Two proofs at once.
    await refused(await raw('/resource', { ...auth, dpop: `${proof}, ${proof}` }), 401, 'invalid_dpop_proof')
  })

  it('token checks: another audience, a forged signature, garbage; all invalid_token', async () => {
    const { token: issuerAud, prover: p } = await tokenFor(agent)
    const c = await refused(await call('/resource', issuerAud, p), 401, 'invalid_token')
    assert.match(c.error_description, /aud/)
    const [h, b] = token.split('.')
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(b, 'base64url')), scope: 'mcp:read mcp:write' })).toString('base64url')}.${token.split('.')[2]}`
    await refused(await call('/resource', forged, prover), 401, 'invalid_token')
    const { privateKey } = await jose.generateKeyPair('ES256')
    const self = await new jose.SignJWT({ ...JSON.parse(Buffer.from(b, 'base64url')) }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: JSON.parse(Buffer.from(h, 'base64url')).kid }).sign(privateKey)
    await refused(await call('/resource', self, prover), 401, 'invalid_token')
    await refused(await raw('/resource', { authorization: 'DPoP %%%' }), 401, 'invalid_token')
  })

  it('unreachable keys or introspection are 503 temporarily_unavailable, not a verdict on the token', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`
    const req = async () => ({ method: 'GET', url: '/r', headers: { host: new URL(srv.url).host, authorization: `DPoP ${token}`, dpop: await prover.makeProof('GET', `${srv.url}/r`, { accessToken: token }) } })
    const noKeys = new ResourceServer({ issuer: shark.url, resource: `${srv.url}/`, jwksUrl: `${closed}/.well-known/jwks.json` })
    await assert.rejects(noKeys.verify(await req()), (e) => e instanceof TokenVerificationError && e.statusCode === 503 && e.error === 'temporarily_unavailable')
    const badIntrospection = new ResourceServer({ issuer: shark.url, resource: `${srv.url}/`, introspect: true, introspectionClientId: rsAgent.clientId, introspectionClientSecret: 'wrong' })
    await assert.rejects(badIntrospection.verify(await req()), (e) => e instanceof TokenVerificationError && e.statusCode === 503)
  })

  it('insufficient scope is 403 with the scope needed', async () => {
    const c = await refused(await call('/write'), 403, 'insufficient_scope')
    assert.equal(c.scope, 'mcp:write')
    assert.equal(c.scheme, 'DPoP')
    const { token: rw, prover: p } = await tokenFor(agent, { scope: 'mcp:read mcp:write', resource: `${srv.url}/` })
    assert.equal((await call('/write', rw, p)).status, 200)
  })

  it('with introspection, a revocation is seen at once', async () => {
    const guarded = await serve((url) => new ResourceServer({ issuer: shark.url, resource: `${url}/`, introspect: true, introspectionClientId: rsAgent.clientId, introspectionClientSecret: rsAgent.clientSecret }))
    try {
      await admin.apps.updateApp(app.id, { resources: [`${srv.url}/`, `${guarded.url}/`] })
      const a = await admin.agents.registerAgent({ appId: app.id, name: 'revoked-later', scopes: ['mcp:read'] })
      const { token: t, prover: p } = await tokenFor(a, { resource: `${guarded.url}/` })
      const get = () => new DPoPHTTPClient({ baseUrl: guarded.url }).getWithDpop('/resource', { token: t, prover: p })
      assert.equal((await get()).status, 200)
      await admin.agents.revokeAll(a.id)
      const res = await get()
      assert.equal(res.status, 401)
      assert.match(res.headers.get('www-authenticate'), /error="invalid_token", error_description="the token has been revoked"/)
      assert.throws(() => res.raiseForStatus(), (e) => e instanceof SharkError && e.statusCode === 401)
    } finally {
      await guarded.close()
    }
  })

  it('a delegated token shows its chain; requireDpop: false takes bearer tokens with a Bearer challenge', async () => {
    const person = await signUp(shark)
    const { accessToken: subject } = await userDelegatedToken(shark, person, { scope: 'mcp:read', audience: agent.clientId })
    const p = await DPoPProver.generate()
    const ex = await new OAuthClient(shark.url).tokenExchange({ subjectToken: subject, dpopProver: p, scope: 'mcp:read', resource: `${srv.url}/`, clientId: agent.clientId, clientSecret: agent.clientSecret })
    const body = (await call('/resource', ex.accessToken, p)).raiseForStatus().json()
    assert.equal(body.sub, person.id)
    assert.deepEqual(body.chain, [agent.clientId])

    const rs = new ResourceServer({ issuer: shark.url, resource: `${srv.url}/`, requireDpop: false })
    const bearer = await new OAuthClient(shark.url).getToken({ clientId: agent.clientId, clientSecret: agent.clientSecret, scope: 'mcp:read', resource: `${srv.url}/` })
    const claims = await rs.verify({ method: 'GET', url: '/x', headers: { host: '127.0.0.1', authorization: `Bearer ${bearer.accessToken}` } })
    assert.ok(claims instanceof VerifiedClaims)
    assert.equal(claims.jkt, null)
    assert.equal(claims.clientId, agent.clientId)
    const e = await rs.verify({ method: 'GET', url: '/x', headers: { host: '127.0.0.1' } }).catch((x) => x)
    assert.ok(e instanceof TokenVerificationError)
    assert.match(e.wwwAuthenticate, /^Bearer resource_metadata="[^"]+", DPoP /)
  })

  it('verifyRequest (framework-agnostic), handle() for Fetch API Requests, and a Fastify-style reply', async () => {
    const options = { issuer: shark.url, resource: `${srv.url}/`, requiredScopes: ['mcp:read'], publicBaseUrl: 'https://mcp.example.com' }
    const url = 'https://mcp.example.com/tools/call?x=1'
    const proof = await prover.makeProof('POST', url, { accessToken: token })
    const claims = await verifyRequest({ method: 'POST', url: '/tools/call?x=1', headers: { authorization: `DPoP ${token}`, dpop: proof } }, options)
    assert.equal(claims.clientId, agent.clientId)
    // The same configuration shares the replay cache.
    await assert.rejects(verifyRequest({ method: 'POST', url: '/tools/call?x=1', headers: { authorization: `DPoP ${token}`, dpop: proof } }, { ...options }),
      (e) => e instanceof TokenVerificationError && e.error === 'invalid_dpop_proof' && e.statusCode === 401)

    const rs = new ResourceServer(options)
    const [meta] = await rs.handle(new Request('https://mcp.example.com/.well-known/oauth-protected-resource'))
    assert.equal((await meta.json()).resource, `${srv.url}/`)
    const [ok, verified] = await rs.handle(new Request(url, { method: 'POST', headers: { authorization: `DPoP ${token}`, dpop: await prover.makeProof('POST', url, { accessToken: token }) } }))
    assert.equal(ok, null)
    assert.equal(verified.sub, agent.clientId)
    const [denied] = await rs.handle(new Request(url, { method: 'POST' }))
    assert.equal(denied.status, 401)
    // The metadata URL follows the resource identifier, not the public URL.
    assert.ok(denied.headers.get('www-authenticate').includes(`resource_metadata="${srv.url}/.well-known/oauth-protected-resource"`))

    // A Fastify preHandler gets (request, reply, done); the refusal goes through reply.code/header/send.
    const sent = { headers: {} }
    const reply = { code(n) { sent.status = n; return this }, header(k, v) { sent.headers[k] = v; return this }, send(b) { sent.body = b; return this } }
    let called = false
    await rs.middleware()({ method: 'POST', url: '/tools/call', headers: {} }, reply, () => { called = true })
    assert.equal(called, false)
    assert.equal(sent.status, 401)
    assert.match(sent.headers['www-authenticate'], /^DPoP /)
    assert.equal(JSON.parse(sent.body).error, 'invalid_request')
    const request = { method: 'POST', url: '/tools/call', headers: { authorization: `DPoP ${token}`, dpop: await prover.makeProof('POST', url, { accessToken: token }) } }
    await rs.middleware()(request, reply, () => { called = true })
    assert.equal(called, true)
    assert.equal(request.auth.sub, agent.clientId)
    assert.throws(() => new ResourceServer({ issuer: shark.url }), TypeError)
    assert.throws(() => new ResourceServer({ issuer: shark.url, resource: 'https://x', introspect: true }), TypeError)
  })

  it('verifyToken with a JWKSCache or a JWKS object; ReplayCache; the admin key as introspection credential', async () => {
    const cache = new JWKSCache(`${shark.url}/.well-known/jwks.json`)
    const c = await verifyToken(token, { issuer: shark.url, audience: `${srv.url}/`, jwks: cache })
    assert.ok(c instanceof VerifiedClaims)
    assert.equal(c.jkt, prover.jkt)
    assert.equal(c.jti, JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).jti)
    assert.equal(c.isDelegated(), false)
    assert.ok(c.hasScope('mcp:read'))
    const kid = JSON.parse(Buffer.from(token.split('.')[0], 'base64url')).kid
    assert.equal((await cache.get(kid)).kid, kid)
    await assert.rejects(cache.get('no-such-kid'), SharkError)
    const set = await (await fetch(`${shark.url}/.well-known/jwks.json`)).json()
    assert.equal((await verifyToken(token, { issuer: shark.url, audience: `${srv.url}/`, jwks: set })).sub, agent.clientId)
    await assert.rejects(verifyToken(token, { issuer: shark.url, audience: 'https://elsewhere' }), jose.errors.JWTClaimValidationFailed)
    await assert.rejects(verifyToken(token, { issuer: 'https://other-issuer.example', audience: `${srv.url}/`, jwks: cache }), jose.errors.JWTClaimValidationFailed)
    await assert.rejects(verifyToken(token, { issuer: shark.url, audience: `${srv.url}/`, now: Math.floor(Date.now() / 1000) + 7200 }), jose.errors.JWTExpired)
    await assert.rejects(verifyToken(token, { issuer: shark.url, audience: `${srv.url}/`, jwks: { keys: [] } }), SharkError)

    const replay = new ReplayCache({ maxEntries: 2 })
    const soon = Date.now() / 1000 + 60
    assert.equal(replay.seen('a', soon), false)
    assert.equal(replay.seen('a', soon), true)
    assert.equal(replay.seen('b', soon), false)
    assert.equal(replay.seen('c', soon), false) // full: the oldest ('a') goes
    assert.equal(replay.seen('a', soon), false)
    assert.equal(replay.seen('x', Date.now() / 1000 - 1), false)
    assert.equal(replay.seen('x', soon), false, 'an expired entry does not count')

    // A shared ReplayCache and the admin key for introspection.
    const shared = new ReplayCache()
    const a = new ResourceServer({ issuer: shark.url, resource: `${srv.url}/`, replayCache: shared, introspect: true, introspectionToken: shark.adminKey })
    const b = new ResourceServer({ issuer: shark.url, resource: `${srv.url}/`, replayCache: shared })
    const url = `${srv.url}/shared`
    const proof = await prover.makeProof('GET', url, { accessToken: token })
    const req = { method: 'GET', url: '/shared', headers: { host: new URL(srv.url).host, authorization: `DPoP ${token}`, dpop: proof } }
    assert.equal((await a.verify(req)).sub, agent.clientId)
    await assert.rejects(b.verify(req), (e) => e instanceof TokenVerificationError && /replayed/.test(e.errorDescription))
    assert.equal(a.wwwAuthenticate('invalid_token', 'x'), `DPoP error="invalid_token", error_description="x", algs="ES256 EdDSA RS256", resource_metadata="${srv.url}/.well-known/oauth-protected-resource"`)
  })

  it('customer-agents: the full example, as written apart from ids, against this resource server', async () => {
    // The MCP server of the guide: it trusts the issuer's JWKS and, so that a
    // cancellation is seen at once, checks revocation by introspection. The
    // guide's token names no resource, so its audience is the issuer.
    const mcp = await serve((url) => new ResourceServer({ issuer: shark.url, audience: shark.url, resource: url, introspect: true, introspectionClientId: rsAgent.clientId, introspectionClientSecret: rsAgent.clientSecret }))
    try {
      const SHARK_URL = shark.url
      const ADMIN_KEY = shark.adminKey
      const alice = await signUp(shark)

      const admin = new Client({ baseUrl: SHARK_URL, token: ADMIN_KEY })

      // 1. Signup: provision agent
      const agent = await admin.agents.registerAgent({
        appId: app.id,
        name: 'agent-alice',
        scopes: ['mcp:read', 'mcp:write'],
        createdBy: alice.id, // links the agent to the customer, so step 4 reaches it
      })
      const clientId = agent.clientId
      const clientSecret = agent.clientSecret

      // 2. Runtime: get DPoP-bound token
      const prover = await DPoPProver.generate()
      const token = await new OAuthClient(SHARK_URL).getTokenWithDpop({
        grantType: 'client_credentials',
        dpopProver: prover,
        clientId,
        clientSecret,
        scope: 'mcp:read mcp:write',
      })
      assert.equal(token.cnfJkt, prover.jkt)

      // 3. Call external resource (validates via /.well-known/jwks.json)
      const resp = await new DPoPHTTPClient({ baseUrl: mcp.url }).getWithDpop('/resource', { token: token.accessToken, prover })
      resp.raiseForStatus()
      assert.equal(resp.json().sub, clientId)

      // 4. Customer cancels: one call, all tokens gone
      const result = await admin.users.revokeAgents(alice.id, { reason: 'cancelled' })
      assert.deepEqual(result.revokedAgentIds, [clientId])

      const after = await new DPoPHTTPClient({ baseUrl: mcp.url }).getWithDpop('/resource', { token: token.accessToken, prover })
      assert.equal(after.status, 401)
      const events = (await admin.audit.listEvents({ limit: 200 })).data
      assert.ok(events.some((e) => e.event === 'agent.created' && e.targetId === clientId))
      assert.ok(events.some((e) => e.event === 'oauth.token_issued' && e.actorId === clientId && e.metadata.jkt === prover.jkt))
      assert.ok(events.some((e) => e.event === 'user.agents_revoked' && e.actorId === alice.id && e.metadata.revoked_count === 1))
    } finally {
      await mcp.close()
    }
  })
})
