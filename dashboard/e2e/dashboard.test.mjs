// The dashboard in a real browser (Debian's chromium, headless, driven by
// playwright-core) against a real shark: every step goes through the UI a
// person uses, and the server's state is checked through the admin API.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { chromium } from 'playwright-core'
import { dpopKey, jti, Shark, SHOTS } from './shark.mjs'

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium'
const T = 30_000 // generous: the machine is shared

describe('dashboard', { timeout: 600_000 }, () => {
  const shark = new Shark()
  let browser, context, page
  const outside = [] // requests to anywhere but the server under test
  const cspViolations = []
  let setupError = null

  before(async () => {
    try {
      fs.mkdirSync(SHOTS, { recursive: true })
      await shark.start()
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] })
      context = await browser.newContext({ viewport: { width: 1440, height: 900 } })
      context.setDefaultTimeout(T)
      await context.route('**/*', (route) => {
        const u = new URL(route.request().url())
        if (u.origin === shark.base || u.protocol === 'data:' || u.protocol === 'blob:') return route.continue()
        outside.push(u.href)
        return route.abort()
      })
      page = await context.newPage()
      page.on('console', (m) => {
        if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text())
      })
    } catch (e) {
      setupError = e
    }
  }, { timeout: 180_000 })

  after(async () => {
    await browser?.close()
    await shark.stop()
  }, { timeout: 60_000 })

  const shot = (name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true })
  const nav = (label) => page.getByRole('navigation', { name: 'sections' }).getByRole('link', { name: label, exact: true }).click()

  it('serves the app with a strict CSP and no framing', async () => {
    if (setupError) throw setupError
    const r = await fetch(shark.url('/admin/agents/anything'))
    assert.equal(r.status, 200)
    assert.match(r.headers.get('content-type'), /text\/html/)
    assert.equal(r.headers.get('cache-control'), 'no-cache')
    assert.equal(r.headers.get('x-frame-options'), 'DENY')
    const csp = r.headers.get('content-security-policy')
    assert.match(csp, /script-src 'self'/)
    assert.match(csp, /connect-src 'self'/)
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/)
    const html = await r.text()
    assert.doesNotMatch(html, /<script>(?!<\/script>)/, 'no inline script')
    const asset = html.match(/src="(\/admin\/assets\/[^"]+\.js)"/)[1]
    const a = await fetch(shark.url(asset))
    assert.equal(a.status, 200)
    assert.match(a.headers.get('cache-control'), /immutable/)
    const again = await fetch(shark.url(asset), { headers: { 'If-None-Match': a.headers.get('etag') } })
    assert.equal(again.status, 304)
    assert.equal((await fetch(shark.url('/admin/assets/nope.js'))).status, 404)
  })

  it('signs in with the admin key into an HttpOnly session, keeping the key nowhere', async () => {
    if (setupError) throw setupError
    await page.goto(shark.url('/admin'))
    await page.getByLabel('Admin API key').fill('sk_live_wrong')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('alert').filter({ hasText: 'not a live admin API key' }).waitFor()
    await shot('signin')
    await page.getByLabel('Admin API key').fill(shark.adminKey)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('heading', { name: 'Overview' }).waitFor()
    await page.getByTestId('health').getByText('ok', { exact: true }).waitFor()
    await shot('overview')
    const cookies = await context.cookies()
    const c = cookies.find((x) => x.name === 'shark_admin')
    assert.ok(c, 'session cookie set')
    assert.equal(c.httpOnly, true)
    assert.equal(c.sameSite, 'Strict')
    assert.notEqual(c.value, shark.adminKey)
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie)
    assert.ok(!stored.includes(shark.adminKey.slice(8)), 'the key is in no storage the page can read')
    assert.ok(!page.url().includes(shark.adminKey.slice(8)))
    // A reload keeps the session (the cookie), without the key.
    await page.reload()
    await page.getByRole('heading', { name: 'Overview' }).waitFor()
  })

  let agent = null
  it('creates an application and an agent, showing the secret once', async () => {
    if (setupError) throw setupError
    await nav('Applications')
    await page.getByRole('button', { name: 'New application' }).click()
    await page.getByLabel('Name', { exact: true }).fill('my-saas-backend')
    await page.getByLabel('Scopes its agents may be given').fill('mcp:read mcp:write')
    await page.getByRole('button', { name: 'Create application' }).click()
    await page.getByRole('cell', { name: 'my-saas-backend' }).waitFor()
    await shot('applications')
    const apps = await shark.admin('GET', '/api/v1/apps')
    const app = apps.data.find((a) => a.name === 'my-saas-backend')
    assert.ok(app)

    await nav('Agents')
    await page.getByRole('button', { name: 'New agent' }).click()
    await page.getByLabel('Application', { exact: true }).selectOption(app.id)
    await page.getByLabel('Name', { exact: true }).fill('billing-bot')
    await page.getByLabel('Scopes', { exact: true }).fill('mcp:read')
    await page.getByRole('button', { name: 'Create agent' }).click()
    const secret = (await page.getByTestId('secret-value').textContent()).trim()
    assert.ok(secret.length >= 32)
    await shot('agent-created')
    const agents = await shark.admin('GET', `/api/v1/agents?app_id=${app.id}`)
    assert.equal(agents.data.length, 1)
    agent = agents.data[0]
    assert.ok(!JSON.stringify(agents).includes(secret), 'the server never shows the secret again')
    await page.getByRole('button', { name: 'I have saved it' }).click()
    assert.equal(await page.getByTestId('secret-value').count(), 0)
    agent.secret = secret
  })

  it('revokes the agent\'s tokens after a confirmation and shows the audit event', async () => {
    if (setupError) throw setupError
    const tok = await shark.token(agent.client_id, agent.secret, { grant_type: 'client_credentials', scope: 'mcp:read' })
    const id = jti(tok.access_token)
    await page.getByRole('link', { name: 'billing-bot' }).click()
    await page.getByRole('cell', { name: id, exact: true }).waitFor()
    await shot('agent')
    await page.getByRole('button', { name: 'Revoke all tokens' }).click()
    const dialog = page.getByRole('dialog')
    // The server's dry run counts what the revocation reaches: the one token.
    await dialog.getByTestId('dry-run-counts').getByText('1 tokens would be revoked').waitFor()
    await shot('confirm-revoke')
    // Cancel changes nothing.
    await dialog.getByRole('button', { name: 'Cancel' }).click()
    let intro = await (await fetch(shark.url('/oauth/introspect'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: 'Basic ' + Buffer.from(`${agent.client_id}:${agent.secret}`).toString('base64') },
      body: new URLSearchParams({ token: tok.access_token }),
    })).json()
    assert.equal(intro.active, true)
    await page.getByRole('button', { name: 'Revoke all tokens' }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click()
    await page.getByRole('status').filter({ hasText: 'Revoked 1 tokens' }).waitFor()
    intro = await (await fetch(shark.url('/oauth/introspect'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: 'Basic ' + Buffer.from(`${agent.client_id}:${agent.secret}`).toString('base64') },
      body: new URLSearchParams({ token: tok.access_token }),
    })).json()
    assert.equal(intro.active, false)
    const events = await shark.admin('GET', `/api/v1/audit-logs?target_id=${encodeURIComponent(agent.id)}`)
    const revoked = events.data.find((e) => /revoke/.test(e.event))
    assert.ok(revoked, JSON.stringify(events.data.map((e) => e.event)))
    await nav('Audit log')
    await page.getByLabel('Target ID').fill(agent.id)
    await page.getByRole('button', { name: 'Filter' }).click()
    await page.getByRole('cell', { name: revoked.event, exact: true }).first().waitFor()
    await shot('audit')
  })

  it('tails the audit log live and exports it as CSV', async () => {
    if (setupError) throw setupError
    await nav('Audit log')
    await page.getByRole('button', { name: 'Clear' }).click()
    await page.getByRole('checkbox', { name: 'Live tail' }).check()
    const made = await shark.admin('POST', '/api/v1/apps', { name: 'tailed-app' })
    await page.getByRole('cell', { name: made.id, exact: true }).waitFor()
    await page.getByRole('checkbox', { name: 'Live tail' }).uncheck()
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Export CSV' }).click(),
    ])
    const file = path.join(SHOTS, 'audit-log.csv')
    await download.saveAs(file)
    const lines = fs.readFileSync(file, 'utf8').trim().split(/\r?\n/)
    assert.match(lines[0], /^created_at,id,event,/)
    assert.ok(lines.some((l) => l.includes(made.id) && l.includes('app.created')), lines.slice(0, 5).join('\n'))
    const total = (await shark.admin('GET', '/api/v1/audit-logs?limit=1000')).data.length
    assert.equal(lines.length - 1, total, 'every event, once')
  })

  it('draws the delegation canvas of a three-hop chain', async () => {
    if (setupError) throw setupError
    const mk = async (name) => {
      const a = await shark.admin('POST', '/api/v1/agents', { app_id: agent.app_id, name, scopes: ['mcp:read'] })
      return { id: a.client_id, secret: a.client_secret }
    }
    const [a, b, c] = [await mk('planner'), await mk('researcher'), await mk('fetcher')]
    const t1 = await shark.token(a.id, a.secret, { grant_type: 'client_credentials', scope: 'mcp:read', audience: b.id })
    const ex = (cl, sub, aud) => shark.token(cl.id, cl.secret, {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: sub,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token', ...(aud ? { audience: aud } : {}),
    })
    const t2 = await ex(b, t1.access_token, c.id)
    const t3 = await ex(c, t2.access_token)
    const leaf = jti(t3.access_token)
    const chain = await shark.admin('GET', `/api/v1/tokens/${leaf}/chain`)
    assert.deepEqual(chain.hops.map((h) => h.client_id), [a.id, b.id, c.id])
    assert.deepEqual(chain.hops.map((h) => h.jti), [jti(t1.access_token), jti(t2.access_token), leaf])
    assert.equal(chain.principal.subject, a.id)
    assert.ok(chain.hops[1].events.some((e) => e.event === 'oauth.token_exchanged'))

    // From the audit log's exchange event to the canvas.
    await nav('Audit log')
    await page.getByLabel('Event', { exact: true }).fill('oauth.token_exchanged')
    await page.getByLabel('Target ID').fill(leaf)
    await page.getByRole('button', { name: 'Filter' }).click()
    // The exchange event's own row (the table may still show the previous rows a moment).
    const row = page.getByRole('row').filter({ hasText: 'oauth.token_exchanged' }).filter({ hasText: leaf })
    await row.getByRole('link', { name: 'delegation' }).click()
    await page.getByRole('heading', { name: 'Delegation canvas' }).waitFor()
    const hops = page.getByTestId('hop')
    await hops.nth(2).waitFor()
    assert.equal(await hops.count(), 3)
    assert.match(await page.getByTestId('principal').textContent(), new RegExp(a.id))
    assert.match(await hops.nth(0).textContent(), /planner/)
    assert.match(await hops.nth(2).textContent(), /fetcher/)
    await shot('canvas')
    // Keyboard: Home selects the first hop, and its events show.
    await hops.nth(2).focus()
    await page.keyboard.press('Home')
    assert.equal(await hops.nth(0).getAttribute('aria-pressed'), 'true')
    await page.getByTestId('hop-detail').getByText('oauth.token_issued').waitFor()
    await page.keyboard.press('ArrowRight')
    assert.equal(await hops.nth(1).getAttribute('aria-pressed'), 'true')
    await page.getByTestId('hop-detail').getByText('oauth.token_exchanged').waitFor()
    // Unknown jti: a clear error, not a blank canvas.
    await page.goto(shark.url('/admin/tokens/tok_unknown/chain'))
    await page.getByRole('alert').filter({ hasText: 'no such token' }).waitFor()
    // Phone width: the chain folds top to bottom and stays readable.
    await page.setViewportSize({ width: 390, height: 844 })
    await page.goto(shark.url(`/admin/tokens/${leaf}/chain`))
    await hops.nth(2).waitFor()
    const [b0, b1] = [await hops.nth(0).boundingBox(), await hops.nth(1).boundingBox()]
    assert.ok(b1.y > b0.y + b0.height - 1, 'hops stack vertically on a phone')
    await shot('canvas-phone')
    await page.getByRole('button', { name: 'Menu' }).click()
    await page.getByRole('navigation', { name: 'sections' }).getByRole('link', { name: 'Agents' }).waitFor()
    await shot('menu-phone')
    await page.setViewportSize({ width: 1440, height: 900 })
  })

  let ada = null
  it('disconnects a vault connection with cascade, revoking the agent that fetched from it', async () => {
    if (setupError) throw setupError
    await shark.admin('POST', '/api/v1/vault/providers', {
      id: 'acme', name: 'Acme Docs', authorize_url: 'https://acme.example/authorize',
      token_url: 'https://acme.example/token', scopes: ['docs.read'], client_id: 'acme-client', client_secret: 'acme-secret',
    })
    const user = ada = await shark.admin('POST', '/api/v1/users', { email: 'ada@example.com', name: 'Ada' })
    const conn = await shark.admin('POST', '/api/v1/vault/connections', {
      user_id: user.id, provider_id: 'acme', access_token: 'acme-access-token', scopes: ['docs.read'],
      expires_at: Math.floor(Date.now() / 1000) + 3600,
    })
    const connId = conn.id ?? conn.connection_id
    // An agent Ada created fetches her Acme token (DPoP-bound, vault:read):
    // the cascade is about it.
    const app = await shark.admin('POST', '/api/v1/apps', { name: 'ada-tools', scopes: ['vault:read'] })
    const fetcher = await shark.admin('POST', '/api/v1/agents', {
      app_id: app.id, name: 'ada-fetcher', scopes: ['vault:read'], created_by: user.id,
    })
    const key = dpopKey()
    const tok = (await shark.token(fetcher.client_id, fetcher.client_secret,
      { grant_type: 'client_credentials', scope: 'vault:read' }, key)).access_token
    const fetchToken = () => fetch(shark.url('/api/v1/vault/acme/token'), {
      headers: { Authorization: `DPoP ${tok}`, DPoP: key.proof(shark.url('/api/v1/vault/acme/token'), 'GET', tok) },
    })
    const got = await fetchToken()
    assert.equal(got.status, 200, await got.clone().text())
    assert.equal((await got.json()).access_token, 'acme-access-token')
    const dry = await shark.admin('DELETE', `/api/v1/vault/connections/${connId}?dry_run=true`)
    assert.deepEqual(dry.revoked_agent_ids, [fetcher.client_id])
    assert.ok(dry.revoked_token_count >= 1, JSON.stringify(dry))

    // Grace's Acme connection needs re-authorization (as a refused refresh
    // marks it; test_vault.py has the server do that): the toggle asks the
    // server for it, and for it only.
    const grace = await shark.admin('POST', '/api/v1/users', { email: 'grace@example.com', name: 'Grace' })
    const stale = await shark.admin('POST', '/api/v1/vault/connections', {
      user_id: grace.id, provider_id: 'acme', access_token: 'acme-access-grace', scopes: ['docs.read'],
    })
    shark.sql(`UPDATE vault_connections SET needs_reauth = true WHERE id = '${stale.id}'`)

    await nav('Vault')
    await page.getByRole('cell', { name: 'Acme Docs' }).first().waitFor()
    await page.getByRole('cell', { name: user.id }).waitFor()
    const asked = []
    const listen = (r) => { if (new URL(r.url()).pathname === '/api/v1/vault/connections') asked.push(new URL(r.url()).searchParams) }
    page.on('request', listen)
    const toggle = page.getByRole('checkbox', { name: 'Only needing re-authorization' })
    await toggle.check()
    await page.getByRole('cell', { name: user.id }).waitFor({ state: 'detached' })
    await page.getByRole('cell', { name: grace.id }).waitFor()
    assert.equal(await page.getByText('needs re-auth', { exact: true }).count(), 1)
    assert.equal(asked.at(-1)?.get('needs_reauth'), 'true')
    await shot('vault-needs-reauth')
    await toggle.uncheck()
    await page.getByRole('cell', { name: user.id }).waitFor()
    assert.equal(asked.at(-1)?.has('needs_reauth'), false)
    // Once Grace's is gone, none needs it.
    await shark.admin('DELETE', `/api/v1/vault/connections/${stale.id}?cascade_to_agents=false`)
    await toggle.check()
    await page.getByText('No connection needs re-authorization.').waitFor()
    await toggle.uncheck()
    await page.getByRole('cell', { name: user.id }).waitFor()
    page.off('request', listen)
    assert.equal(await page.getByRole('cell', { name: grace.id }).count(), 0)
    await shot('vault')
    await page.getByRole('button', { name: 'Disconnect' }).click()
    const dialog = page.getByRole('dialog')
    assert.equal(await dialog.getByRole('checkbox').isChecked(), true)
    // The confirmation says what the cascade reaches, from the server's dry run.
    const counts = dialog.getByTestId('dry-run-counts')
    await counts.getByText('agents would lose their tokens').waitFor()
    const said = (await counts.locator('li').allTextContents()).map((t) => t.trim())
    assert.ok(said.includes('1 agents would lose their tokens'), said.join('; '))
    assert.ok(said.includes(`${dry.revoked_token_count} tokens would be revoked`), said.join('; '))
    await shot('confirm-disconnect')
    // Without the cascade, no agent would be reached.
    await dialog.getByRole('checkbox').uncheck()
    await counts.getByText('0 agents would lose their tokens').waitFor()
    await dialog.getByRole('checkbox').check()
    await counts.getByText('1 agents would lose their tokens').waitFor()
    await dialog.getByRole('button', { name: 'Disconnect' }).click()
    await page.getByRole('status').filter({ hasText: 'Disconnected.' }).waitFor()
    assert.match(await page.getByRole('status').textContent(),
      new RegExp(`Disconnected\\. 1 agents and ${dry.revoked_token_count} tokens revoked\\.`))
    const left = await shark.admin('GET', '/api/v1/vault/connections')
    assert.ok(!(left.items ?? left.data).some((x) => x.id === connId))
    const ev = await shark.admin('GET', `/api/v1/audit-logs?target_id=${encodeURIComponent(connId)}`)
    assert.ok(ev.data.some((e) => /disconnect|deleted|cascade/.test(e.event)), JSON.stringify(ev.data.map((e) => e.event)))
    assert.equal((await shark.introspect(tok)).active, false, 'the agent that fetched lost its token')
    assert.equal((await fetchToken()).status, 401)
  })

  it('shows a user\'s agents and consents, and a webhook\'s deliveries', async () => {
    if (setupError) throw setupError
    await nav('Users')
    await page.getByRole('link', { name: 'ada@example.com' }).click()
    await page.getByRole('heading', { name: 'ada@example.com' }).waitFor()
    await page.getByRole('link', { name: 'ada-fetcher' }).waitFor()
    await shot('user-detail')
    await page.getByRole('button', { name: 'Revoke their agents' }).click()
    await page.getByRole('dialog').getByTestId('dry-run-counts').or(page.getByRole('dialog').getByTestId('no-counts')).first().waitFor()
    await shot('confirm-revoke-agents')
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click()
    assert.ok(ada)

    await nav('Webhooks')
    await page.getByRole('button', { name: 'Add endpoint' }).click()
    await page.getByLabel('URL', { exact: true }).fill('https://hooks.invalid/shark')
    await page.getByRole('button', { name: 'Add endpoint' }).last().click()
    await page.getByTestId('secret-value').waitFor()
    await page.getByRole('button', { name: 'I have saved it' }).click()
    await page.getByRole('link', { name: 'https://hooks.invalid/shark' }).click()
    await page.getByRole('heading', { name: 'https://hooks.invalid/shark' }).waitFor()
    await page.getByRole('button', { name: 'Send test event' }).click()
    await page.getByRole('status').filter({ hasText: 'Test event queued.' }).waitFor()
    await page.getByRole('table', { name: 'deliveries' }).getByRole('button', { name: 'Redeliver' }).first().waitFor()
    await shot('webhook-detail')
  })

  it('renders every other page, at desktop and phone width', async () => {
    if (setupError) throw setupError
    for (const [label, heading, file] of [
      ['Users', 'Users', 'users'], ['Webhooks', 'Webhooks', 'webhooks'],
      ['Signing keys', 'Signing keys', 'keys'], ['Revoke by pattern', 'Revoke by pattern', 'revoke-pattern'],
    ]) {
      await nav(label)
      await page.getByRole('heading', { name: heading, exact: true }).waitFor()
      if (file === 'keys') await page.getByRole('cell', { name: /ES256|RS256/ }).first().waitFor()
      await shot(file)
    }
    await page.setViewportSize({ width: 390, height: 844 })
    await page.goto(shark.url('/admin/agents'))
    await page.getByRole('heading', { name: 'Agents' }).waitFor()
    const width = await page.evaluate(() => document.documentElement.scrollWidth)
    assert.ok(width <= 390, `no sideways scrolling on a phone (${width}px)`)
    const row = page.getByRole('table', { name: 'agents' }).locator('tbody tr[data-row]').first()
    assert.equal(await row.evaluate((e) => getComputedStyle(e).display), 'block', 'rows are stacked cards')
    await shot('agents-phone')
    await page.setViewportSize({ width: 1440, height: 900 })
  })

  it('serves the API reference from the bundle, fetching nothing from outside', async () => {
    if (setupError) throw setupError
    const r = await fetch(shark.url('/api/docs'))
    assert.equal(r.status, 200)
    const csp = r.headers.get('content-security-policy')
    assert.match(csp, /script-src 'self';/)
    assert.doesNotMatch(csp, /unsafe-eval/)
    await page.goto(shark.url('/api/docs'))
    await page.locator('#api-reference *').first().waitFor()
    // With the document served (api/openapi), the reference shows it.
    if ((await fetch(shark.url('/api/openapi.yaml'))).ok) {
      await page.getByRole('heading', { name: /SharkAuth/ }).first().waitFor()
    }
    await page.waitForTimeout(1500) // let it settle: late font or script requests would show up in `outside`
    await page.screenshot({ path: path.join(SHOTS, 'api-docs.png') })
  })

  it('signs out, ending the session on the server', async () => {
    if (setupError) throw setupError
    await page.goto(shark.url('/admin'))
    const cookie = (await context.cookies()).find((x) => x.name === 'shark_admin').value
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByLabel('Admin API key').waitFor()
    const r = await fetch(shark.url('/api/v1/apps'), { headers: { Cookie: `shark_admin=${cookie}` } })
    assert.equal(r.status, 401, 'the old cookie no longer works')
    assert.deepEqual(outside, [], 'nothing was fetched from outside the server')
    assert.deepEqual(cspViolations, [])
  })
})
