// Listings page by page against a real shark: every iter* method (an async
// generator) yields each row exactly once, in the server's order (newest
// first), and stops. The agent tokens route pages by cursor; the other routes
// page by cursor on a server with the listing contract and by offset on one
// from before it, and each test holds for both (it compares with the rows the
// server counts or lists in one page).
import { describe, it, before } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Client, OAuthClient, AgentTokenClaims, VaultClient, VaultError } from '../dist/index.js'
import { useShark, signUp, uniq, userDelegatedToken } from './shark.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const ROWS = 250 // more than two pages of 100

async function collect(iterable) {
  const out = []
  for await (const x of iterable) out.push(x)
  return out
}

function onceEach(got, want) {
  assert.equal(new Set(got).size, got.length, 'a row came twice')
  assert.deepEqual(got, want)
}

const ids = (rows) => rows.map((r) => r.id)

describe('pages', () => {
  const shark = useShark(['--webhook-allowed-hosts', '127.0.0.1'])
  let admin, app

  before(async () => {
    admin = new Client({ baseUrl: shark.url, token: shark.adminKey })
    app = await admin.apps.createApp({ name: uniq('pages'), scopes: ['mcp:read'] })
  })

  describe('agent tokens (cursor pages)', () => {
    let agent, jtis
    before(async () => {
      agent = await admin.agents.registerAgent({ appId: app.id, name: uniq('paged'), scopes: ['mcp:read'] })
      const oauth = new OAuthClient(shark.url)
      jtis = []
      for (let i = 0; i < ROWS; i++) {
        const t = await oauth.getToken({ clientId: agent.clientId, clientSecret: agent.clientSecret, scope: 'mcp:read' })
        jtis.push(AgentTokenClaims.parse(t.accessToken).raw.jti)
      }
    }, { timeout: 120_000 })

    it('listTokens walks every page: each token once, latest expiry first', async () => {
      const first = await (await fetch(`${shark.url}/api/v1/agents/${agent.id}/tokens?limit=100`, { headers: { authorization: `Bearer ${shark.adminKey}` } })).json()
      assert.equal(first.data.length, 100)
      assert.ok(first.next_cursor, 'the route pages: one page does not hold them all')
      const tokens = await admin.agents.listTokens(agent.id)
      const got = tokens.map((t) => t.tokenId)
      assert.equal(new Set(got).size, ROWS)
      assert.deepEqual([...got].sort(), [...jtis].sort())
      const expiry = tokens.map((t) => t.expiresAt)
      assert.deepEqual(expiry, [...expiry].sort().reverse())
      assert.deepEqual(got.slice(0, 100), first.data.map((d) => d.token_id))
    })

    it('iterTokens gives the same at any page size; limit caps listTokens; it stops early when asked', async () => {
      const every = (await admin.agents.listTokens(agent.id)).map((t) => t.tokenId)
      for (const pageSize of [100, 7, 1000]) {
        onceEach((await collect(admin.agents.iterTokens(agent.id, { pageSize }))).map((t) => t.tokenId), every)
      }
      assert.deepEqual((await admin.agents.listTokens(agent.id, { limit: 120 })).map((t) => t.tokenId), every.slice(0, 120))
      assert.deepEqual((await admin.agents.listTokens(agent.id, { limit: null })).map((t) => t.tokenId), every)
      const three = []
      for await (const t of admin.agents.iterTokens(agent.id, { pageSize: 3 })) {
        three.push(t.tokenId)
        if (three.length === 3) break
      }
      assert.deepEqual(three, every.slice(0, 3))
      await assert.rejects(admin.agents.listTokens(agent.id, { limit: 0 }), RangeError)
      await assert.rejects(collect(admin.agents.iterTokens(agent.id, { pageSize: 1001 })), RangeError)
    })

    it('iterEvents follows the audit cursor; getAuditLogs beyond one page', async () => {
      const onePage = await admin.audit.listEvents({ actorId: agent.id, limit: 1000 })
      assert.ok(onePage.data.length >= ROWS && onePage.nextCursor === null)
      const want = ids(onePage.data)
      onceEach(ids(await collect(admin.audit.iterEvents({ actorId: agent.id, pageSize: 100 }))), want)
      assert.deepEqual(ids(await admin.agents.getAuditLogs(agent.id, { limit: 5000 })), want)
      await admin.agents.revokeAll(agent.id)
      assert.deepEqual(await collect(admin.agents.iterTokens(agent.id)), [])
    })
  })

  it('iterAgents: 250 agents, each once, newest first', async () => {
    const own = await admin.apps.createApp({ name: uniq('paged-app'), scopes: ['mcp:read'] })
    const made = []
    for (let i = 0; i < ROWS; i++) made.push((await admin.agents.registerAgent({ appId: own.id, name: `a${i}`, scopes: ['mcp:read'] })).id)
    const page = await admin.agents.listAgents({ appId: own.id, limit: 100 })
    assert.equal(page.total, ROWS)
    assert.equal(page.data.length, 100)
    assert.ok('nextCursor' in page)
    onceEach(ids(await collect(admin.agents.iterAgents({ appId: own.id, pageSize: 100 }))), [...made].reverse())
    onceEach(ids(await collect(admin.agents.iterAgents({ appId: own.id, pageSize: 1000 }))), [...made].reverse())
    assert.deepEqual(await collect(admin.agents.iterAgents({ appId: own.id, status: 'disabled' })), [])
  })

  it('iterUsers, iterApps, iterWebhooks match the one-page listing', async () => {
    const hooks = []
    for (let i = 0; i < 5; i++) {
      await admin.users.createUser({ email: `${uniq('pg')}@example.test` })
      await admin.apps.createApp({ name: uniq('pg-app'), scopes: ['x:y'] })
      hooks.push(await admin.webhooks.createWebhook({ url: 'http://127.0.0.1:9/hook', events: ['agent.created'] }))
    }
    for (const [one, all] of [['listUsers', 'iterUsers'], ['listApps', 'iterApps'], ['listWebhooks', 'iterWebhooks']]) {
      const area = one === 'listUsers' ? admin.users : one === 'listApps' ? admin.apps : admin.webhooks
      const want = await area[one]({ limit: 1000, total: true })
      assert.ok(want.data.length >= 5 && want.nextCursor === null && want.total === want.data.length, one)
      onceEach(ids(await collect(area[all]({ pageSize: 2 }))), ids(want.data))
    }
    for (const h of hooks) await admin.webhooks.deleteWebhook(h.id)
  })

  it('iterDeliveries', async () => {
    const hook = await admin.webhooks.createWebhook({ url: 'http://127.0.0.1:9/hook', events: ['agent.created'] })
    for (let i = 0; i < 5; i++) await admin.webhooks.testWebhook(hook.id)
    const want = await admin.webhooks.listDeliveries(hook.id, { limit: 1000, total: true })
    assert.equal(want.data.length, 5)
    assert.equal(want.total, 5)
    onceEach(ids(await collect(admin.webhooks.iterDeliveries(hook.id, { pageSize: 2 }))), ids(want.data))
    assert.deepEqual(await collect(admin.webhooks.iterDeliveries(hook.id, { status: 'delivered' })), [])
    await admin.webhooks.deleteWebhook(hook.id)
  })

  it('users.iterAgents and iterConsents', async () => {
    const person = await signUp(shark)
    const made = []
    for (let i = 0; i < 5; i++) made.push((await admin.agents.registerAgent({ appId: app.id, name: uniq('ua'), scopes: ['mcp:read'], createdBy: person.id })).id)
    const page = await admin.users.listAgents(person.id, { filter: 'created', limit: 2 })
    assert.equal(page.total, 5)
    assert.equal(page.data.length, 2)
    onceEach(ids(await collect(admin.users.iterAgents(person.id, { filter: 'created', pageSize: 2 }))), [...made].reverse())
    assert.deepEqual(await collect(admin.users.iterAgents(person.id, { filter: 'authorized' })), [])
    for (let i = 0; i < 3; i++) await userDelegatedToken(shark, person, { scope: 'mcp:read', audience: made[i] })
    const want = await admin.users.listConsents(person.id, { limit: 1000, total: true })
    assert.equal(want.data.length, 3)
    assert.equal(want.total, 3)
    onceEach(ids(await collect(admin.users.iterConsents(person.id, { pageSize: 2 }))), ids(want.data))
  })

  it('vault iterConnections and iterProviders (admin key)', async () => {
    const made = []
    for (let i = 0; i < 5; i++) {
      const u = await admin.users.createUser({ email: `${uniq('vc')}@example.test` })
      const r = await fetch(`${shark.url}/api/v1/vault/connections`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${shark.adminKey}` },
        body: JSON.stringify({ user_id: u.id, provider_id: 'slack', access_token: 'xoxb-paged', expires_at: Math.floor(Date.now() / 1000) + 3600 }),
      })
      assert.equal(r.status, 201, await r.clone().text())
      made.push((await r.json()).id)
    }
    const page = await admin.vault.listConnections({ providerId: 'slack', limit: 2 })
    assert.equal(page.total, 5)
    assert.equal(page.items.length, 2)
    onceEach(ids(await collect(admin.vault.iterConnections({ providerId: 'slack', pageSize: 2 }))), [...made].reverse())
    const want = await admin.vault.listProviders({ limit: 1000 })
    assert.ok(want.data.length >= 5 && ids(want.data).includes('slack'))
    onceEach(ids(await collect(admin.vault.iterProviders({ pageSize: 3 }))), ids(want.data))
    assert.throws(() => new VaultClient({ authUrl: shark.url }).iterConnections(), VaultError)
  })
})

describe('the README listing example', () => {
  const shark = useShark()

  it('runs as written against a server with agents, users and apps', async () => {
    const admin = new Client({ baseUrl: shark.url, token: shark.adminKey })
    const app = await admin.apps.createApp({ name: uniq('readme'), scopes: ['mcp:read'] })
    const agent = await admin.agents.registerAgent({ appId: app.id, name: 'readme-agent', scopes: ['mcp:read'] })
    await new OAuthClient(shark.url).getToken({ clientId: agent.clientId, clientSecret: agent.clientSecret, scope: 'mcp:read' })
    await admin.users.createUser({ email: `${uniq('readme')}@example.test` })
    const readme = fs.readFileSync(path.join(here, '../README.md'), 'utf8')
    const code = readme.split('## Listings, page by page')[1].split('```ts\n')[1].split('```')[0]
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shark-readme-'))
    try {
      const file = path.join(tmp, 'listing.mjs')
      fs.writeFileSync(file, code.replace("'@sharkauth/sdk'", JSON.stringify(pathToFileURL(path.join(here, '../dist/index.js')).href)))
      const out = execFileSync(process.execPath, [file], { env: { ...process.env, SHARK_URL: shark.url, ADMIN_KEY: shark.adminKey }, encoding: 'utf8' })
      assert.ok(out.includes(`${agent.clientId} readme-agent 1 live tokens\n`), out)
      assert.match(out, /^1 apps$/m)
      assert.ok(out.includes(`${app.id} ${app.name}\n`), out)
      assert.match(out, /@example\.test$/m)
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true })
    }
  })
})
