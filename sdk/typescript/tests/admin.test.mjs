// The admin surface against a real shark: Client and its .agents, .users,
// .apps, .audit, .webhooks, .oauth; every method, and the error paths
// (typed errors with statusCode and the server's code; nothing changed).
import { describe, it, before } from 'node:test'
import assert from 'node:assert/strict'
import {
  Client, AgentsClient, UsersClient, AppsClient, AuditClient, WebhooksClient, OAuthClient, DPoPProver,
  SharkError, AuthenticationError, NotFoundError, OAuthError, RateLimitError,
} from '../dist/index.js'
import { useShark, signUp, uniq } from './shark.mjs'

async function rejects(promise, Class, { status, code } = {}) {
  let err
  try { await promise } catch (e) { err = e }
  assert.ok(err instanceof Class, `expected ${Class.name}, got ${err?.constructor?.name}: ${err?.message}`)
  assert.ok(err instanceof SharkError)
  if (status !== undefined) assert.equal(err.statusCode, status)
  if (code !== undefined) assert.equal(err.code, code)
  return err
}

describe('admin', () => {
  const shark = useShark()
  let admin, app

  before(async () => {
    admin = new Client({ baseUrl: shark.url, token: shark.adminKey })
    app = await admin.apps.createApp({ name: uniq('app'), scopes: ['mcp:read', 'mcp:write', 'docs:read'] })
  })

  const newAgent = (extra = {}) => admin.agents.registerAgent({ appId: app.id, name: uniq('agent-'), scopes: ['mcp:read', 'mcp:write'], ...extra })
  const tokenFor = async (agent, scope = 'mcp:read mcp:write', prover) => {
    prover ??= await DPoPProver.generate()
    const t = await new OAuthClient(shark.url).getTokenWithDpop({ grantType: 'client_credentials', dpopProver: prover, clientId: agent.clientId, clientSecret: agent.clientSecret, scope })
    return { token: t, prover }
  }

  describe('Client', () => {
    it('needs the admin key; a wrong key is AuthenticationError 401 on every admin call', async () => {
      assert.throws(() => new Client({ baseUrl: shark.url }), TypeError)
      assert.throws(() => new Client({ baseUrl: 'ftp://x', token: 'k' }), TypeError)
      const wrong = new Client({ baseUrl: shark.url, token: 'sk_live_wrong' })
      await rejects(wrong.agents.listAgents(), AuthenticationError, { status: 401 })
      await rejects(wrong.users.listAgents('usr_x'), AuthenticationError, { status: 401 })
      await rejects(wrong.apps.listApps(), AuthenticationError, { status: 401 })
      await rejects(wrong.audit.listEvents(), AuthenticationError, { status: 401 })
      const e = await rejects(wrong.webhooks.listWebhooks(), AuthenticationError, { status: 401 })
      assert.ok(e.requestId, 'the server request id travels with the error')
    })

    it('an unreachable server is a SharkError without statusCode (after retries for reads)', async () => {
      const { freePort } = await import('./shark.mjs')
      const gone = new Client({ baseUrl: `http://127.0.0.1:${await freePort()}`, token: 'sk_live_x', maxRetries: 1 })
      const e = await rejects(gone.agents.listAgents(), SharkError)
      assert.equal(e.statusCode, undefined)
      assert.match(e.message, /cannot reach/)
      await rejects(gone.agents.registerAgent({ appId: 'a', name: 'n' }), SharkError)
    })

    it('exposes the sub-clients, each also constructible alone', () => {
      for (const [k, C] of [['agents', AgentsClient], ['users', UsersClient], ['apps', AppsClient], ['audit', AuditClient], ['webhooks', WebhooksClient], ['oauth', OAuthClient]]) {
        assert.ok(admin[k] instanceof C, k)
      }
      assert.ok(new AgentsClient({ baseUrl: shark.url, token: shark.adminKey }) instanceof AgentsClient)
    })
  })

  describe('apps', () => {
    it('create, get, list, update, delete (with and without cascade)', async () => {
      const a = await admin.apps.createApp({ name: 'my-saas-backend', description: 'd', scopes: ['x:y'], resources: ['https://mcp.example.com'] })
      assert.match(a.id, /^app_/)
      assert.deepEqual(a.scopes, ['x:y'])
      assert.equal((await admin.apps.getApp(a.id)).name, 'my-saas-backend')
      const listed = await admin.apps.listApps({ limit: 200, total: true })
      assert.ok(listed.total >= 2 && listed.data.some((x) => x.id === a.id))
      const u = await admin.apps.updateApp(a.id, { description: 'new' })
      assert.equal(u.description, 'new')
      const agent = await admin.agents.registerAgent({ appId: a.id, name: 'in-app', scopes: ['x:y'] })
      await rejects(admin.apps.deleteApp(a.id), SharkError, { status: 409, code: 'conflict' })
      await admin.apps.deleteApp(a.id, { cascade: true })
      await rejects(admin.apps.getApp(a.id), NotFoundError, { status: 404, code: 'not_found' })
      assert.equal((await admin.agents.getAgent(agent.id)).status, 'disabled')
    })

    it('bad input is a 400 SharkError; an unknown id is NotFoundError', async () => {
      await rejects(admin.apps.createApp({ name: '' }), SharkError, { status: 400, code: 'invalid_request' })
      await rejects(admin.apps.createApp({ name: 'x', scopes: ['has space'] }), SharkError, { status: 400 })
      await rejects(admin.apps.updateApp("app_'; DROP TABLE apps;--", { name: 'x' }), NotFoundError, { status: 404 })
      await rejects(admin.apps.deleteApp('app_nope'), NotFoundError)
    })
  })

  describe('agents', () => {
    it('registerAgent returns camelCase fields and the secret once; getAgent never shows it', async () => {
      const person = await signUp(shark)
      const a = await newAgent({ description: 'Agent for customer c1', createdBy: person.id })
      assert.match(a.clientId, /^shark_agent_/)
      assert.equal(a.id, a.clientId)
      assert.equal(typeof a.clientSecret, 'string')
      assert.equal(a.createdBy, person.id)
      assert.equal(a.appId, app.id)
      assert.deepEqual(a.scopes, ['mcp:read', 'mcp:write'])
      const got = await admin.agents.getAgent(a.id)
      assert.equal(got.clientSecret, undefined)
      assert.equal(got.description, 'Agent for customer c1')
    })

    it('registerAgent refuses what the server refuses, creating nothing', async () => {
      const before = (await admin.agents.listAgents({ appId: app.id, limit: 1 })).total
      await rejects(admin.agents.registerAgent({ appId: 'app_missing', name: 'x' }), NotFoundError, { status: 404 })
      await rejects(newAgent({ scopes: ['admin:all'] }), SharkError, { status: 400, code: 'invalid_request' })
      await rejects(newAgent({ createdBy: 'usr_nobody' }), SharkError, { status: 400 })
      await rejects(newAgent({ clientId: 'not_an_agent_id' }), SharkError, { status: 400 })
      await rejects(newAgent({ dpopJkt: 'short' }), SharkError, { status: 400 })
      assert.equal((await admin.agents.listAgents({ appId: app.id, limit: 1 })).total, before)
    })

    it('a chosen clientId, listAgents filters, updateAgent, deleteAgent', async () => {
      const id = `shark_agent_fleet_${uniq('')}`
      const a = await newAgent({ clientId: id, grantTypes: ['client_credentials'] })
      assert.equal(a.clientId, id)
      assert.deepEqual(a.grantTypes, ['client_credentials'])
      await rejects(newAgent({ clientId: id }), SharkError, { status: 409, code: 'conflict' })
      const page = await admin.agents.listAgents({ appId: app.id, status: 'active', limit: 500 })
      assert.ok(page.data.some((x) => x.id === id))
      const u = await admin.agents.updateAgent(id, { name: 'renamed', status: 'disabled' })
      assert.equal(u.name, 'renamed')
      assert.equal(u.status, 'disabled')
      assert.ok((await admin.agents.listAgents({ appId: app.id, status: 'disabled', limit: 500 })).data.some((x) => x.id === id))
      await rejects(admin.agents.updateAgent(id, { status: 'sleeping' }), SharkError, { status: 400 })
      await admin.agents.deleteAgent(id)
      await rejects(admin.agents.getAgent(id), NotFoundError)
      await rejects(admin.agents.deleteAgent(id), NotFoundError)
    })

    it('listTokens shows the live DPoP-bound tokens; revokeAll kills them', async () => {
      const a = await newAgent()
      const { token, prover } = await tokenFor(a)
      await tokenFor(a, 'mcp:read', prover)
      const tokens = await admin.agents.listTokens(a.id)
      assert.equal(tokens.length, 2)
      for (const t of tokens) {
        assert.equal(t.agentId, a.clientId)
        assert.equal(t.jkt, prover.jkt)
        assert.ok(t.tokenId && t.expiresAt && t.createdAt)
      }
      assert.deepEqual(tokens.map((t) => t.scope).sort(), ['mcp:read', 'mcp:read mcp:write'])
      const r = await admin.agents.revokeAll(a.id)
      assert.deepEqual(r, { revokedCount: 2, agentId: a.clientId })
      assert.deepEqual(await admin.agents.listTokens(a.id), [])
      assert.equal((await admin.oauth.introspect(token.accessToken)).active, false)
      assert.equal((await admin.agents.revokeAll(a.id)).revokedCount, 0)
      await rejects(admin.agents.listTokens('shark_agent_nope'), NotFoundError)
      await rejects(admin.agents.revokeAll('shark_agent_nope'), NotFoundError)
    })

    it('rotateSecret: the new secret works, the old one is refused (OAuthError invalid_client)', async () => {
      const a = await newAgent()
      const c = await admin.agents.rotateSecret(a.id)
      assert.equal(c.agentId, a.clientId)
      assert.equal(c.clientId, a.clientId)
      assert.notEqual(c.clientSecret, a.clientSecret)
      assert.ok(c.rotatedAt)
      const oauth = new OAuthClient({ baseUrl: shark.url })
      const e = await rejects(oauth.getToken({ clientId: a.clientId, clientSecret: a.clientSecret }), OAuthError, { status: 401 })
      assert.equal(e.error, 'invalid_client')
      assert.match(e.wwwAuthenticate, /^Basic/, 'RFC 6749 §5.2: the challenge of a 401 invalid_client')
      assert.ok((await oauth.getToken({ clientId: a.clientId, clientSecret: c.clientSecret })).accessToken)
      // A grace period keeps the previous secret working for a while.
      const g = await admin.agents.rotateSecret(a.id, { gracePeriodSeconds: 300 })
      assert.ok((await oauth.getToken({ clientId: a.clientId, clientSecret: c.clientSecret })).accessToken)
      assert.ok((await oauth.getToken({ clientId: a.clientId, clientSecret: g.clientSecret })).accessToken)
      await rejects(admin.agents.rotateSecret(a.id, { gracePeriodSeconds: -1 }), SharkError, { status: 400 })
      await rejects(admin.agents.rotateSecret('shark_agent_nope'), NotFoundError)
    })

    it('getAuditLogs: the agent\'s events, with limit and since (a Date or a string)', async () => {
      const a = await newAgent()
      await tokenFor(a)
      await tokenFor(a)
      const all = await admin.agents.getAuditLogs(a.id, { limit: 50 })
      assert.ok(all.length >= 2)
      for (const ev of all) assert.equal(ev.actorId, a.clientId)
      const issued = all.filter((e) => e.event === 'oauth.token_issued')
      assert.equal(issued.length, 2)
      assert.equal(issued[0].metadata.scope, 'mcp:read mcp:write')
      assert.ok(issued[0].id && issued[0].createdAt && issued[0].targetId)
      assert.equal((await admin.agents.getAuditLogs(a.id, { limit: 1 })).length, 1)
      assert.deepEqual(await admin.agents.getAuditLogs(a.id, { since: new Date(Date.now() + 3600_000) }), [])
      assert.ok((await admin.agents.getAuditLogs(a.id, { since: new Date(Date.now() - 3600_000).toISOString() })).length >= 2)
      await rejects(admin.agents.getAuditLogs(a.id, { since: 'yesterday' }), SharkError, { status: 400 })
      await rejects(admin.agents.getAuditLogs(a.id, { limit: 0 }), SharkError, { status: 400 })
    })

    it('rotateDpopKey: old-key tokens are revoked, the audit event recorded; a private JWK is refused', async () => {
      const first = await DPoPProver.generate()
      const a = await newAgent({ dpopJkt: first.jkt })
      const { token } = await tokenFor(a, 'mcp:read', first)
      const other = await DPoPProver.generate()
      await rejects(tokenFor(a, 'mcp:read', other), OAuthError) // bound to first's key
      const next = await DPoPProver.generate()
      const r = await admin.agents.rotateDpopKey(a.id, { newPublicKeyJwk: next.publicKeyJwk(), reason: 'incident-2026-04-26' })
      assert.equal(r.oldJkt, first.jkt)
      assert.equal(r.newJkt, next.jkt)
      assert.equal(r.revokedTokenCount, 1)
      assert.match(r.auditEventId, /^audit_/)
      assert.equal((await admin.oauth.introspect(token.accessToken)).active, false)
      await rejects(tokenFor(a, 'mcp:read', first), OAuthError)
      assert.ok((await tokenFor(a, 'mcp:read', next)).token.accessToken)
      const ev = (await admin.audit.listEvents({ event: 'agent.dpop_key_rotated', limit: 100 })).data.find((e) => e.id === r.auditEventId)
      assert.ok(ev)
      await rejects(admin.agents.rotateDpopKey(a.id, { newPublicKeyJwk: { ...next.publicJwk, d: 'AAAA' } }), SharkError, { status: 400 })
      await rejects(admin.agents.rotateDpopKey(a.id, { newPublicKeyJwk: { kty: 'oct', k: 'AAAA' } }), SharkError, { status: 400 })
      await rejects(admin.agents.rotateDpopKey('shark_agent_nope', { newPublicKeyJwk: next.publicJwk }), NotFoundError)
    })
  })

  describe('users', () => {
    it('listAgents with filter created / authorized / all, limit and offset', async () => {
      const person = await signUp(shark)
      const a1 = await newAgent({ createdBy: person.id })
      const a2 = await newAgent({ createdBy: person.id })
      const created = await admin.users.listAgents(person.id, { filter: 'created', limit: 50 })
      assert.equal(created.filter, 'created')
      assert.equal(created.total, 2)
      assert.deepEqual(created.data.map((x) => x.id).sort(), [a1.id, a2.id].sort())
      assert.equal((await admin.users.listAgents(person.id, { filter: 'authorized' })).total, 0)
      const all = await admin.users.listAgents(person.id)
      assert.equal(all.filter, 'all')
      assert.equal(all.total, 2)
      const page = await admin.users.listAgents(person.id, { limit: 1, offset: 1 })
      assert.equal(page.data.length, 1)
      assert.equal(page.total, 2)
      await rejects(admin.users.listAgents(person.id, { filter: 'mine' }), SharkError, { status: 400, code: 'invalid_request' })
      await rejects(admin.users.listAgents('usr_nobody'), NotFoundError)
    })

    it('revokeAgents: only agentIds, then all; refuses agents of another user and changes nothing', async () => {
      const person = await signUp(shark)
      const stranger = await signUp(shark)
      const a1 = await newAgent({ createdBy: person.id })
      const a2 = await newAgent({ createdBy: person.id })
      const theirs = await newAgent({ createdBy: stranger.id })
      const t1 = (await tokenFor(a1)).token
      const t2 = (await tokenFor(a2)).token
      await rejects(admin.users.revokeAgents(person.id, { agentIds: [theirs.id] }), SharkError, { status: 400 })
      await rejects(admin.users.revokeAgents(person.id, { agentIds: [] }), SharkError, { status: 400 })
      assert.equal((await admin.oauth.introspect(t1.accessToken)).active, true)
      const one = await admin.users.revokeAgents(person.id, { agentIds: [a1.id], reason: 'one' })
      assert.deepEqual(one.revokedAgentIds, [a1.id])
      assert.match(one.auditEventId, /^audit_/)
      assert.equal((await admin.oauth.introspect(t1.accessToken)).active, false)
      assert.equal((await admin.oauth.introspect(t2.accessToken)).active, true)
      const all = await admin.users.revokeAgents(person.id, { reason: 'customer cancelled subscription' })
      assert.ok(all.revokedAgentIds.includes(a2.id))
      assert.equal(typeof all.revokedConsentCount, 'number')
      assert.equal((await admin.oauth.introspect(t2.accessToken)).active, false)
      const ev = (await admin.audit.listEvents({ actorId: person.id, event: 'user.agents_revoked' })).data
      assert.ok(ev.some((e) => e.id === all.auditEventId && e.metadata.reason === 'customer cancelled subscription'))
      await rejects(admin.users.revokeAgents('usr_nobody'), NotFoundError)
    })
  })

  describe('users (CRUD)', () => {
    it('createUser, getUser, listUsers, deleteUser; a duplicate email is 409, an unknown id 404', async () => {
      const email = `${uniq('u')}@example.com`
      const u = await admin.users.createUser({ email, name: 'Ada' })
      assert.match(u.id, /^usr_/)
      assert.equal(u.email, email)
      assert.equal(u.name, 'Ada')
      assert.equal(typeof u.emailVerified, 'boolean')
      assert.equal((await admin.users.getUser(u.id)).email, email)
      assert.ok((await admin.users.listUsers({ limit: 1000 })).data.some((x) => x.id === u.id))
      assert.equal((await admin.users.listUsers({ limit: 1 })).data.length, 1)
      await rejects(admin.users.createUser({ email }), SharkError, { status: 409 })
      await rejects(admin.users.createUser({ email: 'not an email' }), SharkError, { status: 400 })
      await admin.users.deleteUser(u.id)
      await rejects(admin.users.getUser(u.id), NotFoundError)
      await rejects(admin.users.deleteUser(u.id), NotFoundError)
    })
  })

  describe('audit and webhooks', () => {
    it('audit.listEvents filters by actor, target, event prefix, and pages with the cursor; iterEvents walks the pages', async () => {
      const a = await newAgent()
      await tokenFor(a)
      await tokenFor(a)
      await tokenFor(a)
      const p1 = await admin.audit.listEvents({ actorId: a.id, event: 'oauth.*', limit: 2 })
      assert.equal(p1.data.length, 2)
      assert.ok(p1.nextCursor)
      const p2 = await admin.audit.listEvents({ actorId: a.id, event: 'oauth.*', limit: 2, cursor: p1.nextCursor })
      assert.equal(p2.data.length, 1)
      assert.equal(p2.nextCursor, null)
      assert.equal(new Set([...p1.data, ...p2.data].map((e) => e.id)).size, 3)
      const byTarget = await admin.audit.listEvents({ targetId: a.id })
      assert.ok(byTarget.data.some((e) => e.event === 'agent.created'))
      const all = []
      for await (const e of admin.audit.iterEvents({ actorId: a.id, event: 'oauth.*', pageSize: 1 })) all.push(e.id)
      assert.deepEqual(all, [...p1.data, ...p2.data].map((e) => e.id))
      await rejects(admin.audit.listEvents({ event: 'oauth*x' }), SharkError, { status: 400 })
      await rejects(admin.audit.listEvents({ cursor: 'forged' }), SharkError, { status: 400 })
    })

    it('webhooks: create (secret once), list, get, update, rotateSecret, delete; a bad URL is refused', async () => {
      const w = await admin.webhooks.createWebhook({ url: 'https://hooks.example.com/shark', events: ['oauth.token.exchanged', 'user.agents_revoked', 'agent.dpop_key_rotated'] })
      assert.match(w.id, /^wh/)
      assert.match(w.secret, /^whsec_/)
      // The spec's dotted alias is stored under the audit event's name.
      assert.deepEqual(w.events.sort(), ['agent.dpop_key_rotated', 'oauth.token_exchanged', 'user.agents_revoked'])
      const list = await admin.webhooks.listWebhooks()
      const mine = list.data.find((x) => x.id === w.id)
      assert.ok(mine)
      assert.equal(mine.secret, undefined)
      assert.equal((await admin.webhooks.getWebhook(w.id)).url, 'https://hooks.example.com/shark')
      const u = await admin.webhooks.updateWebhook(w.id, { events: ['user.agents_revoked'], enabled: false, description: 'siem' })
      assert.deepEqual(u.events, ['user.agents_revoked'])
      assert.equal(u.enabled, false)
      const r = await admin.webhooks.rotateSecret(w.id)
      assert.equal(r.id, w.id)
      assert.match(r.secret, /^whsec_/)
      assert.notEqual(r.secret, w.secret)
      assert.ok(r.rotatedAt)
      await rejects(admin.webhooks.testWebhook(w.id), SharkError, { status: 409 }) // disabled
      await rejects(admin.webhooks.updateWebhook(w.id, { url: 'ftp://x' }), SharkError, { status: 400 })
      await rejects(admin.webhooks.createWebhook({ url: 'not a url', events: ['user.agents_revoked'] }), SharkError, { status: 400 })
      await admin.webhooks.deleteWebhook(w.id)
      assert.ok(!(await admin.webhooks.listWebhooks()).data.some((x) => x.id === w.id))
      await rejects(admin.webhooks.deleteWebhook(w.id), NotFoundError)
      await rejects(admin.webhooks.getWebhook(w.id), NotFoundError)
      await rejects(admin.webhooks.rotateSecret(w.id), NotFoundError)
      await rejects(admin.webhooks.listDeliveries(w.id), NotFoundError)
    })
  })

  describe('oauth (admin)', () => {
    it('bulkRevokeByPattern revokes the fleet matching the GLOB, and only it', async () => {
      const fleet = `shark_agent_executor_v2.${uniq('')}`
      const a = await newAgent({ clientId: `${fleet}_a` })
      const b = await newAgent({ clientId: `${fleet}_b` })
      const keep = await newAgent({ clientId: `shark_agent_executor_v3.${uniq('')}` })
      const ta = (await tokenFor(a)).token
      const tb = (await tokenFor(b)).token
      const tk = (await tokenFor(keep)).token
      const r = await admin.oauth.bulkRevokeByPattern({ clientIdPattern: `${fleet}_*`, reason: 'CVE-2026-xxxx rollback' })
      assert.equal(r.revokedCount, 2)
      assert.equal(r.patternMatched, `${fleet}_*`)
      assert.match(r.auditEventId, /^audit_/)
      assert.equal((await admin.oauth.introspect(ta.accessToken)).active, false)
      assert.equal((await admin.oauth.introspect(tb.accessToken)).active, false)
      assert.equal((await admin.oauth.introspect(tk.accessToken)).active, true)
      const oauth = new OAuthClient({ baseUrl: shark.url, token: shark.adminKey })
      await rejects(oauth.bulkRevokeByPattern({ clientIdPattern: 'shark_agent_[', reason: 'typo' }), SharkError, { status: 400 })
      await rejects(oauth.bulkRevokeByPattern({ clientIdPattern: '*', reason: '' }), SharkError, { status: 400 })
      await rejects(new OAuthClient({ baseUrl: shark.url, token: 'sk_live_bad' }).bulkRevokeByPattern({ clientIdPattern: '*', reason: 'x' }), AuthenticationError)
      await assert.rejects(new OAuthClient(shark.url).bulkRevokeByPattern({ clientIdPattern: '*', reason: 'x' }), TypeError)
      assert.equal((await admin.oauth.introspect(tk.accessToken)).active, true)
    })
  })

  describe('retries and rate limits', () => {
    it('RateLimitError carries retryAfter; idempotent GETs are retried after Retry-After', async (t) => {
      // A second server with a tight per-client limit.
      const { Shark } = await import('./shark.mjs')
      const limited = await new Shark(['--rate-limit', '4:2']).start()
      t.after(() => limited.stop())
      const noRetry = new Client({ baseUrl: limited.url, token: limited.adminKey, maxRetries: 0 })
      let err
      for (let i = 0; i < 20 && !err; i++) {
        try { await noRetry.apps.listApps() } catch (e) { err = e }
      }
      assert.ok(err instanceof RateLimitError, `got ${err}`)
      assert.equal(err.statusCode, 429)
      assert.ok(err.retryAfter >= 1)
      // With retries, the same burst of reads all succeed.
      const retrying = new Client({ baseUrl: limited.url, token: limited.adminKey, maxRetries: 5 })
      for (let i = 0; i < 5; i++) assert.ok(Array.isArray((await retrying.apps.listApps()).data))
      // A POST is never retried: it surfaces the 429.
      let postErr
      for (let i = 0; i < 20 && !postErr; i++) {
        try { await retrying.apps.createApp({ name: uniq('burst') }) } catch (e) { postErr = e }
      }
      assert.ok(postErr instanceof RateLimitError, `got ${postErr}`)
    })
  })
})
