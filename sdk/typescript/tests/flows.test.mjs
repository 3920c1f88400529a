// The agent side against a real shark: OAuthClient (DPoP-bound and bearer
// client credentials, token exchange, refresh, the device flow,
// introspection, revocation), exchangeToken, DPoPProver and the server's
// nonce challenge, AgentTokenClaims, VaultClient; and the internal-platform
// guide run as written (apart from ids).
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import {
  Client, OAuthClient, DPoPProver, VaultClient, AgentTokenClaims, exchangeToken,
  OAuthError, VaultError,
} from '../dist/index.js'
import { Shark, useShark, signUp, uniq, userDelegatedToken as delegate, inputValue } from './shark.mjs'

async function rejects(promise, Class, check = {}) {
  let err
  try { await promise } catch (e) { err = e }
  assert.ok(err instanceof Class, `expected ${Class.name}, got ${err?.constructor?.name}: ${err?.message}`)
  for (const [k, v] of Object.entries(check)) assert.equal(err[k], v, k)
  return err
}

// A third-party OAuth provider on loopback for the vault: answers refresh
// and revocation (the connection's access token is fresh, so the vault
// only calls it on disconnect); with refuse, every refresh is invalid_grant.
function fakeProvider({ refuse = false } = {}) {
  const srv = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      res.setHeader('content-type', 'application/json')
      if (refuse && req.url === '/token') {
        res.statusCode = 400
        res.end(JSON.stringify({ error: 'invalid_grant' }))
        return
      }
      res.end(req.url === '/token' ? JSON.stringify({ access_token: uniq('at'), token_type: 'Bearer', expires_in: 3600 }) : '{}')
    })
  })
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)))
}

describe('flows', () => {
  const shark = useShark(['--webhook-allowed-hosts', '127.0.0.1'])
  let admin, app, provider

  before(async () => {
    admin = new Client({ baseUrl: shark.url, token: shark.adminKey })
    app = await admin.apps.createApp({
      name: uniq('platform'), scopes: ['docs:read', 'code:execute', 'mcp:read', 'vault:read'], resources: ['https://docs.internal'],
    })
    provider = await fakeProvider()
  })
  after(() => provider?.close())

  const newAgent = (extra = {}) => admin.agents.registerAgent({ appId: app.id, name: uniq('agent-'), scopes: ['docs:read', 'mcp:read'], ...extra })

  describe('DPoPProver', () => {
    it('generate: a P-256 public JWK, its RFC 7638 thumbprint, proofs with htm/htu/ath/jti/iat', async () => {
      const p = await DPoPProver.generate()
      assert.deepEqual(Object.keys(p.publicJwk).sort(), ['crv', 'kty', 'x', 'y'])
      assert.deepEqual(p.publicKeyJwk(), p.publicJwk)
      assert.match(p.jkt, /^[A-Za-z0-9_-]{43}$/)
      const proof = await p.makeProof('post', 'https://rs.example/a/b?q=1#f', { accessToken: 'tok' })
      const [h, b] = proof.split('.').slice(0, 2).map((x) => JSON.parse(Buffer.from(x, 'base64url')))
      assert.equal(h.typ, 'dpop+jwt')
      assert.equal(h.alg, 'ES256')
      assert.equal(h.jwk.d, undefined)
      assert.equal(b.htm, 'POST')
      assert.equal(b.htu, 'https://rs.example/a/b')
      assert.equal(b.ath, Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode('tok'))).toString('base64url'))
      assert.ok(Math.abs(b.iat - Date.now() / 1000) < 5)
      const again = JSON.parse(Buffer.from((await p.makeProof('GET', 'https://rs.example/')).split('.')[1], 'base64url'))
      assert.notEqual(again.jti, b.jti)
      assert.equal(again.ath, undefined)
      assert.notEqual((await DPoPProver.generate()).jkt, p.jkt)
      await assert.rejects(DPoPProver.generate({ alg: 'HS256' }), TypeError)
    })

    it('an EdDSA (Ed25519) prover gets a bound token and fetches with it; fromKeyPair wraps an existing pair', async () => {
      const agent = await newAgent()
      const ed = await DPoPProver.generate({ alg: 'EdDSA' })
      assert.equal(ed.alg, 'EdDSA')
      assert.equal(ed.publicJwk.kty, 'OKP')
      const t = await new OAuthClient(shark.url).getTokenWithDpop({ dpopProver: ed, clientId: agent.clientId, clientSecret: agent.clientSecret, scope: 'docs:read' })
      assert.equal(t.cnfJkt, ed.jkt)
      const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])
      const wrapped = await DPoPProver.fromKeyPair(pair)
      const t2 = await new OAuthClient(shark.url).getTokenWithDpop({ dpopProver: wrapped, clientId: agent.clientId, clientSecret: agent.clientSecret, scope: 'docs:read' })
      assert.equal(t2.cnfJkt, wrapped.jkt)
      const rsa = await crypto.subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, false, ['sign', 'verify'])
      await assert.rejects(DPoPProver.fromKeyPair(rsa), TypeError)
    })
  })

  describe('webhook deliveries', () => {
    it('testWebhook sends a signed test event to the endpoint; listDeliveries shows it', async () => {
      const got = []
      const sink = http.createServer((req, res) => {
        let body = ''
        req.on('data', (c) => { body += c })
        req.on('end', () => { got.push({ headers: req.headers, body }); res.end('ok') })
      })
      await new Promise((r) => sink.listen(0, '127.0.0.1', r))
      try {
        const w = await admin.webhooks.createWebhook({ url: `http://127.0.0.1:${sink.address().port}/hook`, events: ['user.agents_revoked'] })
        const t = await admin.webhooks.testWebhook(w.id)
        assert.ok(t && typeof t === 'object')
        let deliveries = []
        for (let i = 0; i < 300 && !(got.length && deliveries.some((d) => d.status === 'delivered')); i++) {
          await new Promise((r) => setTimeout(r, 200))
          deliveries = (await admin.webhooks.listDeliveries(w.id, { limit: 10 })).data
        }
        assert.ok(got.length >= 1, 'the endpoint got the test event')
        assert.ok(deliveries.length >= 1)
        assert.ok(deliveries.some((d) => d.status === 'delivered'), JSON.stringify(deliveries))
        assert.ok('createdAt' in deliveries[0] || 'id' in deliveries[0])
        assert.equal((await admin.webhooks.listDeliveries(w.id, { status: 'failed' })).data.length, 0)
      } finally {
        sink.close()
      }
    })
  })

  describe('OAuthClient', () => {
    it('getTokenWithDpop: a DPoP token bound to the prover (cnfJkt == prover.jkt), as the spec\'s customer guide', async () => {
      const agent = await newAgent()
      const prover = await DPoPProver.generate()
      const oauth = new OAuthClient({ baseUrl: shark.url })
      const token = await oauth.getTokenWithDpop({ grantType: 'client_credentials', dpopProver: prover, clientId: agent.clientId, clientSecret: agent.clientSecret, scope: 'mcp:read' })
      assert.equal(token.tokenType, 'DPoP')
      assert.equal(token.cnfJkt, prover.jkt)
      assert.equal(token.scope, 'mcp:read')
      assert.ok(token.expiresIn > 0)
      const info = await admin.oauth.introspect(token.accessToken)
      assert.equal(info.active, true)
      assert.equal(info.cnfJkt, prover.jkt)
      assert.equal(info.clientId, agent.clientId)
      assert.equal(info.tokenType, 'DPoP')
    })

    it('getTokenWithDpop errors: wrong secret, scope not granted, unsupported grant; default credentials from the constructor', async () => {
      const agent = await newAgent()
      const prover = await DPoPProver.generate()
      const oauth = new OAuthClient({ baseUrl: shark.url })
      await rejects(oauth.getTokenWithDpop({ dpopProver: prover, clientId: agent.clientId, clientSecret: 'wrong' }), OAuthError, { error: 'invalid_client', statusCode: 401 })
      await rejects(oauth.getTokenWithDpop({ dpopProver: prover, clientId: agent.clientId, clientSecret: agent.clientSecret, scope: 'code:execute' }), OAuthError, { error: 'invalid_scope', statusCode: 400 })
      await assert.rejects(oauth.getTokenWithDpop({ grantType: 'password', dpopProver: prover, clientId: agent.clientId, clientSecret: agent.clientSecret }), TypeError)
      await assert.rejects(oauth.getTokenWithDpop({ clientId: agent.clientId, clientSecret: agent.clientSecret }), TypeError)
      await assert.rejects(oauth.getToken(), TypeError) // no client anywhere
      const bound = new OAuthClient({ baseUrl: shark.url, clientId: agent.clientId, clientSecret: agent.clientSecret })
      assert.equal((await bound.getTokenWithDpop({ dpopProver: prover })).cnfJkt, prover.jkt)
    })

    it('getToken: a bearer token without DPoP; revoke (RFC 7009) makes it inactive; unknown tokens still 200', async () => {
      const agent = await newAgent()
      const oauth = new OAuthClient({ baseUrl: shark.url, clientId: agent.clientId, clientSecret: agent.clientSecret })
      const t = await oauth.getToken({ scope: 'docs:read' })
      assert.equal(t.tokenType, 'Bearer')
      assert.equal(t.cnfJkt, null)
      assert.equal(t.scope, 'docs:read')
      assert.equal((await admin.oauth.introspect(t.accessToken)).active, true)
      await oauth.revoke(t.accessToken)
      assert.equal((await admin.oauth.introspect(t.accessToken)).active, false)
      await oauth.revoke('not-a-token-at-all')
    })

    it('introspect: with a resource-server agent\'s credentials or the admin key; inactive after revoke', async () => {
      const agent = await newAgent()
      const rs = await newAgent({ resourceServer: true })
      const t = await new OAuthClient({ baseUrl: shark.url }).getToken({ clientId: agent.clientId, clientSecret: agent.clientSecret, scope: 'docs:read' })
      const viaRs = await new OAuthClient({ baseUrl: shark.url }).introspect(t.accessToken, { clientId: rs.clientId, clientSecret: rs.clientSecret })
      assert.equal(viaRs.active, true)
      assert.equal(viaRs.scope, 'docs:read')
      assert.equal(viaRs.sub, agent.clientId)
      assert.ok(viaRs.exp > viaRs.iat && viaRs.jti)
      assert.equal(viaRs.raw.active, true)
      await new OAuthClient({ baseUrl: shark.url }).revoke(t.accessToken, { clientId: agent.clientId, clientSecret: agent.clientSecret, tokenTypeHint: 'access_token' })
      assert.equal((await admin.oauth.introspect(t.accessToken)).active, false)
      assert.equal((await admin.oauth.introspect('garbage')).active, false)
      await new OAuthClient({ baseUrl: shark.url }).revoke('not-a-token', { clientId: agent.clientId, clientSecret: agent.clientSecret })
      await rejects(new OAuthClient({ baseUrl: shark.url }).introspect(t.accessToken, { clientId: rs.clientId, clientSecret: 'wrong' }), OAuthError, { statusCode: 401 })
      await rejects(new OAuthClient({ baseUrl: shark.url }).revoke(t.accessToken, { clientId: agent.clientId, clientSecret: 'wrong' }), OAuthError, { error: 'invalid_client' })
    })

    it('the DPoP nonce challenge (RFC 9449 §8) is answered once, transparently', async (t) => {
      const s = await new Shark(['--dpop-nonce', 'on']).start()
      t.after(() => s.stop())
      const a = new Client({ baseUrl: s.url, token: s.adminKey })
      const ap = await a.apps.createApp({ name: 'n', scopes: ['mcp:read'] })
      const agent = await a.agents.registerAgent({ appId: ap.id, name: 'n', scopes: ['mcp:read'] })
      const prover = await DPoPProver.generate()
      const oauth = new OAuthClient({ baseUrl: s.url, clientId: agent.clientId, clientSecret: agent.clientSecret })
      const first = await oauth.getTokenWithDpop({ dpopProver: prover, scope: 'mcp:read' })
      assert.equal(first.cnfJkt, prover.jkt)
      const second = await oauth.getTokenWithDpop({ dpopProver: prover, scope: 'mcp:read' })
      assert.equal(second.cnfJkt, prover.jkt)
      // A raw proof without the nonce is what gets challenged.
      const raw = await fetch(`${s.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await (await DPoPProver.generate()).makeProof('POST', `${s.url}/oauth/token`) },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: agent.clientId, client_secret: agent.clientSecret }).toString(),
      })
      assert.equal((await raw.json()).error, 'use_dpop_nonce')
    })
  })

  describe('token exchange and the internal-platform guide', () => {
    let person
    before(async () => { person = await signUp(shark) })

    it('internal-platform: register workloads, exchange a user-delegated token, audit, incident response, list tokens', async () => {
      const SHARK_URL = shark.url
      const admin = new Client({ baseUrl: SHARK_URL, token: shark.adminKey })

      // Step 2 — provision platform agents
      const summarizer = await admin.agents.registerAgent({ appId: app.id, name: 'summarizer-agent', scopes: ['docs:read'] })
      const executor = await admin.agents.registerAgent({ appId: app.id, name: 'executor-agent', scopes: ['docs:read', 'code:execute'], clientId: `shark_agent_executor_v2.${uniq('')}` })

      // The user-delegated token: the person hands agent A a token by naming it as audience.
      const userDelegatedToken = (await delegate(shark, person, { scope: 'docs:read', audience: summarizer.clientId })).accessToken

      // Step 3 — token exchange chain
      const proverA = await DPoPProver.generate()
      const oauth = new OAuthClient({ baseUrl: SHARK_URL })
      const tokenB = await oauth.tokenExchange({
        subjectToken: userDelegatedToken,
        dpopProver: proverA,
        scope: 'docs:read',
        audience: 'https://docs.internal',
        clientId: summarizer.clientId,
        clientSecret: summarizer.clientSecret,
      })
      assert.equal(tokenB.act.sub, summarizer.clientId)
      assert.equal(tokenB.cnfJkt, proverA.jkt)
      assert.equal(tokenB.issuedTokenType, 'urn:ietf:params:oauth:token-type:access_token')
      const claims = AgentTokenClaims.parse(tokenB.accessToken)
      assert.equal(claims.sub, person.id, 'the original principal stays the subject')
      assert.equal(claims.isDelegated(), true)
      assert.deepEqual(claims.delegationChain().map((h) => h.sub), [summarizer.clientId])
      assert.equal(claims.hasScope('docs:read'), true)
      assert.equal(claims.hasScope('code:execute'), false)
      assert.equal(claims.jkt, proverA.jkt)
      assert.equal(claims.raw.aud, 'https://docs.internal')

      // Step 4 — query the audit log
      const events = await admin.agents.getAuditLogs(summarizer.clientId, { limit: 50 })
      assert.ok(events.some((ev) => ev.event === 'oauth.token_exchanged'))
      for (const ev of events) assert.ok(ev.createdAt && ev.event && ev.actorId === summarizer.clientId)

      // Step 5 — webhook to security tooling
      const hook = await admin.webhooks.createWebhook({ url: 'https://hooks.slack.com/services/x', events: ['oauth.token.exchanged', 'user.agents_revoked', 'agent.dpop_key_rotated'] })
      assert.ok(hook.id)

      // Step 6 — incident response
      const proverE = await DPoPProver.generate()
      await oauth.getTokenWithDpop({ dpopProver: proverE, clientId: executor.clientId, clientSecret: executor.clientSecret, scope: 'code:execute' })
      const result = await admin.agents.revokeAll(executor.clientId)
      assert.equal(result.revokedCount, 1)
      const newProver = await DPoPProver.generate()
      const rotation = await admin.agents.rotateDpopKey(executor.clientId, { newPublicKeyJwk: newProver.publicKeyJwk(), reason: 'incident-2026-04-26' })
      assert.equal(rotation.newJkt, newProver.jkt)
      assert.match(rotation.auditEventId, /^audit_/)

      // Layer 4 — bulk pattern revocation
      await oauth.getTokenWithDpop({ dpopProver: newProver, clientId: executor.clientId, clientSecret: executor.clientSecret, scope: 'docs:read' })
      const bulk = await admin.oauth.bulkRevokeByPattern({ clientIdPattern: 'shark_agent_executor_v2.*', reason: 'CVE-2026-xxxx rollback' })
      assert.equal(bulk.revokedCount, 1)

      // Inspecting active tokens per agent
      const tokens = await admin.agents.listTokens(summarizer.clientId)
      assert.equal(tokens.length, 1)
      assert.equal(tokens[0].jkt, proverA.jkt)
      assert.equal(tokens[0].scope, 'docs:read')
    })

    it('exchangeToken (standalone) and the exchange rules: never wider, bound to the prover, revoked subjects refused', async () => {
      const agentA = await newAgent({ scopes: ['docs:read'] })
      const { accessToken: subject, client } = await delegate(shark, person, { scope: 'docs:read', audience: agentA.clientId })
      const prover = await DPoPProver.generate()
      const base = { authUrl: shark.url, subjectToken: subject, dpopProver: prover, clientId: agentA.clientId, clientSecret: agentA.clientSecret }
      const t = await exchangeToken({ ...base, scope: 'docs:read' })
      assert.equal(t.act.sub, agentA.clientId)
      assert.equal(t.cnfJkt, prover.jkt)
      await rejects(exchangeToken({ ...base, scope: 'code:execute' }), OAuthError, { error: 'invalid_scope' })
      await rejects(exchangeToken({ ...base, subjectToken: 'garbage' }), OAuthError, { statusCode: 400 })
      await rejects(exchangeToken({ ...base, clientSecret: 'wrong' }), OAuthError, { error: 'invalid_client' })
      // Once the person's client revokes the subject token, it exchanges for nothing.
      await new OAuthClient(shark.url).revoke(subject, { clientId: client.client_id, clientSecret: client.client_secret })
      await rejects(exchangeToken({ ...base, scope: 'docs:read' }), OAuthError, { error: 'invalid_grant' })
      await assert.rejects(new OAuthClient(shark.url).tokenExchange({}), TypeError)
    })

    it('refresh: a user refresh token rotates; the used one is then invalid_grant', async () => {
      const { refreshToken, client } = await delegate(shark, person, { scope: 'docs:read', audience: shark.url })
      assert.ok(refreshToken)
      const oauth = new OAuthClient({ baseUrl: shark.url, clientId: client.client_id, clientSecret: client.client_secret })
      const next = await oauth.refresh({ refreshToken })
      assert.ok(next.accessToken && next.refreshToken && next.refreshToken !== refreshToken)
      await rejects(oauth.refresh({ refreshToken }), OAuthError, { error: 'invalid_grant' })
    })

    it('device flow: deviceAuthorization, the person approves at /device, pollDeviceToken gets the token; a denial is access_denied', async () => {
      const reg = await fetch(`${shark.url}/oauth/register`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${shark.adminKey}` },
        body: JSON.stringify({ client_name: 'cli', grant_types: ['urn:ietf:params:oauth:grant-type:device_code'], token_endpoint_auth_method: 'none', scope: 'docs:read' }),
      })
      const client = await reg.json()
      assert.equal(reg.status, 201, JSON.stringify(client))
      const oauth = new OAuthClient({ baseUrl: shark.url, clientId: client.client_id })
      const decide = async (code, decision) => {
        const b = person.browser
        const entry = await b.request('/device')
        const confirm = await b.request('/device', { method: 'POST', form: { csrf_token: inputValue(entry.text, 'csrf_token'), user_code: code } })
        const done = await b.request('/device/decision', { method: 'POST', form: { csrf_token: inputValue(confirm.text, 'csrf_token'), user_code: inputValue(confirm.text, 'user_code'), decision } })
        assert.ok(done.status < 400, done.text)
      }
      const d = await oauth.deviceAuthorization({ scope: 'docs:read' })
      assert.match(d.userCode, /^[A-Z]{4}-[A-Z]{4}$/)
      assert.ok(d.deviceCode && d.verificationUri && d.expiresIn > 0 && d.interval > 0)
      // Before the decision the server says authorization_pending; giving up is an OAuthError.
      await rejects(oauth.pollDeviceToken({ deviceCode: d.deviceCode, timeoutMs: 100 }), OAuthError, { error: 'expired_token' })
      await decide(d.userCode, 'approve')
      const t = await oauth.pollDeviceToken({ deviceCode: d.deviceCode, interval: d.interval, timeoutMs: 60_000 })
      assert.equal(AgentTokenClaims.parse(t.accessToken).sub, person.id)
      const denied = await oauth.deviceAuthorization({ scope: 'docs:read' })
      await decide(denied.userCode, 'deny')
      await rejects(oauth.pollDeviceToken({ deviceCode: denied.deviceCode }), OAuthError, { error: 'access_denied' })
      await rejects(oauth.deviceAuthorization({ scope: 'admin:everything' }), OAuthError, { error: 'invalid_scope' })
    })
  })

  describe('AgentTokenClaims', () => {
    it('parse without verification; direct tokens have no chain; non-JWTs are a TypeError', async () => {
      const agent = await newAgent()
      const prover = await DPoPProver.generate()
      const t = await new OAuthClient(shark.url).getTokenWithDpop({ dpopProver: prover, clientId: agent.clientId, clientSecret: agent.clientSecret, scope: 'docs:read mcp:read' })
      const c = AgentTokenClaims.parse(t.accessToken)
      assert.equal(c.sub, agent.clientId)
      assert.equal(c.iss, shark.url)
      assert.ok(c.exp > c.iat)
      assert.equal(c.scope, 'docs:read mcp:read')
      assert.equal(c.jkt, prover.jkt)
      assert.equal(c.isDelegated(), false)
      assert.deepEqual(c.delegationChain(), [])
      assert.ok(c.hasScope('mcp:read') && !c.hasScope('mcp'))
      const nested = `x.${Buffer.from(JSON.stringify({ sub: 'u', act: { sub: 'b', scope: 's', cnf: { jkt: 'j' }, act: { sub: 'a', iat: 5 } } })).toString('base64url')}.y`
      assert.deepEqual(AgentTokenClaims.parse(nested).delegationChain(), [
        { sub: 'b', iat: null, scope: 's', jkt: 'j' }, { sub: 'a', iat: 5, scope: null, jkt: null }])
      for (const bad of ['', 'a.b', 'a.!!.c', `a.${Buffer.from('[1]').toString('base64url')}.c`]) assert.throws(() => AgentTokenClaims.parse(bad), TypeError)
    })
  })

  describe('VaultClient', () => {
    let person, agent, prover, token, conn, pid

    before(async () => {
      const base = `http://127.0.0.1:${provider.address().port}`
      pid = uniq('fake_')
      const r = await fetch(`${shark.url}/api/v1/vault/providers`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${shark.adminKey}` },
        body: JSON.stringify({ id: pid, name: 'Fake', authorize_url: `${base}/authorize`, token_url: `${base}/token`, revoke_url: `${base}/revoke`, scopes: ['read'], auth_style: 'basic', client_id: 'cid', client_secret: 'csecret' }),
      })
      assert.equal(r.status, 201, await r.text())
      person = await signUp(shark)
      const c = await fetch(`${shark.url}/api/v1/vault/connections`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${shark.adminKey}` },
        body: JSON.stringify({ user_id: person.id, provider_id: pid, access_token: 'provider-access-1', refresh_token: 'provider-refresh-1', expires_at: Math.floor(Date.now() / 1000) + 3600, scopes: ['read'] }),
      })
      conn = await c.json()
      assert.equal(c.status, 201, JSON.stringify(conn))
      agent = await newAgent({ scopes: ['vault:read', 'docs:read'], createdBy: person.id })
      prover = await DPoPProver.generate()
      token = await new OAuthClient(shark.url).getTokenWithDpop({ grantType: 'client_credentials', dpopProver: prover, clientId: agent.clientId, clientSecret: agent.clientSecret, scope: 'vault:read' })
    })

    it('fetchToken: the decrypted provider token, with the prover the token is bound to', async () => {
      const vault = new VaultClient({ authUrl: shark.url })
      const fresh = await vault.fetchToken({ provider: pid, bearerToken: token.accessToken, prover })
      assert.deepEqual(Object.keys(fresh).sort(), ['accessToken', 'expiresAt', 'provider', 'tokenType'])
      assert.equal(fresh.accessToken, 'provider-access-1')
      assert.equal(fresh.tokenType, 'Bearer')
      assert.equal(fresh.provider, pid)
      assert.ok(fresh.expiresAt)
      // accessToken given to the constructor is the default bearer token.
      const withToken = new VaultClient({ authUrl: shark.url, accessToken: token.accessToken })
      assert.equal((await withToken.fetchToken({ provider: pid, prover })).accessToken, 'provider-access-1')
    })

    it('fetchToken errors are VaultError: 401 wrong key, 403 no vault:read, 404 no connection', async () => {
      const vault = new VaultClient({ authUrl: shark.url })
      await rejects(vault.fetchToken({ provider: pid, bearerToken: token.accessToken, prover: await DPoPProver.generate() }), VaultError, { statusCode: 401 })
      await rejects(vault.fetchToken({ provider: pid, bearerToken: 'garbage', prover }), VaultError, { statusCode: 401 })
      const narrow = await new OAuthClient(shark.url).getTokenWithDpop({ dpopProver: prover, clientId: agent.clientId, clientSecret: agent.clientSecret, scope: 'docs:read' })
      await rejects(vault.fetchToken({ provider: pid, bearerToken: narrow.accessToken, prover }), VaultError, { statusCode: 403 })
      await rejects(vault.fetchToken({ provider: 'google_gmail', bearerToken: token.accessToken, prover }), VaultError, { statusCode: 404 })
      await rejects(vault.fetchToken({ provider: pid, prover }), VaultError)
    })

    it('listConnections (admin key); without it, VaultError', async () => {
      const vault = new VaultClient({ authUrl: shark.url, adminKey: shark.adminKey })
      const result = await vault.listConnections({ providerId: pid, limit: 50 })
      assert.equal(result.total, 1)
      const [c] = result.items
      assert.deepEqual(Object.keys(c).sort(), ['createdAt', 'expiresAt', 'id', 'needsReauth', 'providerId', 'providerName', 'scopes', 'updatedAt', 'userId'])
      assert.deepEqual(c.scopes, ['read'])
      assert.ok(c.expiresAt)
      assert.equal(c.id, conn.id)
      assert.equal(c.userId, person.id)
      assert.equal(c.providerId, pid)
      assert.equal(c.needsReauth, false)
      assert.equal((await admin.vault.listConnections({ limit: 50 })).items.some((x) => x.id === conn.id), true)
      await rejects(new VaultClient({ authUrl: shark.url }).listConnections(), VaultError)
      await rejects(new VaultClient({ authUrl: shark.url, adminKey: 'sk_live_wrong' }).listConnections(), VaultError, { statusCode: 401 })
      await rejects(vault.disconnect('conn_nope'), VaultError, { statusCode: 404 })
    })

    it('listConnections and iterConnections with needsReauth: the connection a refused refresh marked, or the others', async () => {
      const refusing = await fakeProvider({ refuse: true })
      const admin = { 'content-type': 'application/json', authorization: `Bearer ${shark.adminKey}` }
      const rpid = uniq('refusing_')
      try {
        const base = `http://127.0.0.1:${refusing.address().port}`
        const r = await fetch(`${shark.url}/api/v1/vault/providers`, {
          method: 'POST', headers: admin,
          body: JSON.stringify({ id: rpid, name: 'Refusing', authorize_url: `${base}/authorize`, token_url: `${base}/token`, scopes: ['read'], client_id: 'cid', client_secret: 'csecret' }),
        })
        assert.equal(r.status, 201, await r.text())
        const connect = async (userId, expiresIn) => (await fetch(`${shark.url}/api/v1/vault/connections`, {
          method: 'POST', headers: admin,
          body: JSON.stringify({ user_id: userId, provider_id: rpid, access_token: uniq('a'), refresh_token: uniq('r'), expires_at: Math.floor(Date.now() / 1000) + expiresIn }),
        })).json()
        // expiring within the refresh skew: the fetch refreshes, and the provider refuses
        const stale = await connect(person.id, 5)
        await rejects(new VaultClient({ authUrl: shark.url }).fetchToken({ provider: rpid, bearerToken: token.accessToken, prover }), VaultError, { statusCode: 409 })
        const fresh = await connect((await signUp(shark)).id, 3600)
        const vault = new VaultClient({ authUrl: shark.url, adminKey: shark.adminKey })
        const marked = await vault.listConnections({ providerId: rpid, needsReauth: true })
        assert.deepEqual(marked.items.map((c) => [c.id, c.needsReauth]), [[stale.id, true]])
        assert.equal(marked.total, 1)
        const others = await vault.listConnections({ providerId: rpid, needsReauth: false })
        assert.deepEqual(others.items.map((c) => [c.id, c.needsReauth]), [[fresh.id, false]])
        assert.equal((await vault.listConnections({ providerId: rpid })).items.length, 2)
        const walked = []
        for await (const c of vault.iterConnections({ providerId: rpid, needsReauth: true, pageSize: 1 })) walked.push(c.id)
        assert.deepEqual(walked, [stale.id])
      } finally {
        refusing.close()
      }
    })

    it('disconnect cascades to the agents that used the connection (Layer 5); without cascade it does not', async () => {
      const vault = new VaultClient({ authUrl: shark.url, adminKey: shark.adminKey })
      // A second connection, disconnected without cascade.
      const other = await signUp(shark)
      const c2 = await (await fetch(`${shark.url}/api/v1/vault/connections`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${shark.adminKey}` },
        body: JSON.stringify({ user_id: other.id, provider_id: pid, access_token: 'a2', refresh_token: 'r2', expires_at: Math.floor(Date.now() / 1000) + 3600 }),
      })).json()
      const quiet = await vault.disconnect(c2.id, false)
      assert.equal(quiet.connectionId, c2.id)
      assert.deepEqual(quiet.revokedAgentIds, [])
      assert.equal(quiet.cascadeAuditEventId, null)

      const result = await vault.disconnect(conn.id, true)
      assert.equal(result.connectionId, conn.id)
      assert.deepEqual(result.revokedAgentIds, [agent.clientId])
      assert.ok(result.revokedTokenCount >= 1)
      assert.match(result.cascadeAuditEventId, /^audit_/)
      assert.equal((await admin.oauth.introspect(token.accessToken)).active, false)
      await rejects(vault.disconnect(conn.id), VaultError, { statusCode: 404 })
      await rejects(new VaultClient({ authUrl: shark.url }).disconnect(conn.id), VaultError)
    })
  })
})
