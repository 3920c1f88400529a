// The agents page with 100,000 agents (issue 17: tables stay fast at that
// size). The agents are populated through SQL in the server's own shapes
// (copies of one agent made through the API, as bench/scale.py does), then
// the page is opened in the browser. Asserted: one page of rows in the DOM,
// the right rows in the right order, and the listing asked without a count.
// Measured, never asserted: time to the first rows and to the next page
// (printed as a diagnostic and written to scale-agents.json beside the
// screenshots; figures in bench/README.md).
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { chromium } from 'playwright-core'
import { Shark, SHOTS } from './shark.mjs'

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium'
const N = Number(process.env.SHARK_DASHBOARD_AGENTS || 100_000)
const PAGE = 50 // the dashboard's page size

describe(`the agents page with ${N.toLocaleString('en')} agents`, { timeout: 900_000 }, () => {
  const shark = new Shark()
  let browser, page
  let setupError = null
  const requests = []

  before(async () => {
    try {
      fs.mkdirSync(SHOTS, { recursive: true })
      await shark.start()
      const app = await shark.admin('POST', '/api/v1/apps', { name: 'fleet', scopes: ['mcp:read'] })
      const first = await shark.admin('POST', '/api/v1/agents', { app_id: app.id, name: 'fleet-0', scopes: ['mcp:read'] })
      // fleet-1 … fleet-(N-1), each a second older than the one before, so
      // the newest-first order is known: fleet-0, fleet-1, …
      shark.sql(`INSERT INTO oauth_clients (client_id, kind, name, description, secret_hash, auth_method,
          grant_types, scopes, app_id, created_by, created_at, updated_at)
        SELECT 'shark_agent_fleet_' || lpad(g::text, 6, '0'), kind, 'fleet-' || g, description, secret_hash,
          auth_method, grant_types, scopes, app_id, created_by, created_at - g * interval '1 second', updated_at
        FROM oauth_clients, generate_series(1, ${N - 1}) g WHERE client_id = '${first.client_id}'`)
      shark.sql('ANALYZE oauth_clients')
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] })
      const context = await browser.newContext({ viewport: { width: 1440, height: 900 } })
      context.setDefaultTimeout(60_000)
      page = await context.newPage()
      page.on('request', (r) => {
        const u = new URL(r.url())
        if (u.pathname === '/api/v1/agents') requests.push(u.searchParams)
      })
      await page.goto(shark.url('/admin'))
      await page.getByLabel('Admin API key').fill(shark.adminKey)
      await page.getByRole('button', { name: 'Sign in' }).click()
      await page.getByRole('heading', { name: 'Overview' }).waitFor()
      // The overview counts (it alone asks total=true).
      const count = N.toLocaleString('en').replace(/,/g, '[,.\\s\\u202f]?')
      await page.getByRole('link', { name: new RegExp(`^Agents\\s*${count}$`) }).waitFor()
    } catch (e) {
      setupError = e
    }
  }, { timeout: 600_000 })

  after(async () => {
    await browser?.close()
    await shark.stop()
  }, { timeout: 60_000 })

  const rows = () => page.getByRole('table', { name: 'agents' }).locator('tbody tr[data-row]')
  const names = async () => (await rows().locator('td[data-label="Name"]').allTextContents()).map((t) => t.trim())
  const fleet = (from, n) => Array.from({ length: n }, (_, i) => `fleet-${from + i}`)

  it('shows one page, newest first, and pages on without a count', async (t) => {
    if (setupError) throw setupError
    assert.equal(Number(shark.sql("SELECT count(*) FROM oauth_clients WHERE kind = 'agent'")), N)
    const api0 = Date.now()
    const direct = await shark.admin('GET', `/api/v1/agents?limit=${PAGE}`)
    const apiMs = Date.now() - api0
    assert.equal(direct.data.length, PAGE)

    requests.length = 0
    await page.goto(shark.url('/admin/agents'))
    // performance.now() counts from the start of this navigation.
    const firstRowsMs = await (await page.waitForFunction(
      () => document.querySelectorAll('table[aria-label="agents"] tbody tr[data-row]').length > 0 && performance.now(),
      null, { polling: 'raf', timeout: 60_000 })).jsonValue()
    assert.deepEqual(await names(), fleet(0, PAGE))
    assert.equal(await page.locator('tbody tr').count(), PAGE, 'one page of rows in the whole DOM')
    assert.equal(requests.length, 1)
    assert.equal(requests[0].get('limit'), String(PAGE))
    assert.ok(!requests[0].has('total') && !requests[0].has('cursor') && !requests[0].has('offset'), String(requests[0]))
    await page.screenshot({ path: path.join(SHOTS, 'agents-100k.png') })

    const older = page.getByRole('navigation', { name: 'pages of agents' }).getByRole('button', { name: 'Older →' })
    await older.waitFor()
    await page.waitForFunction(() => [...document.querySelectorAll('nav.pager button')].some((b) => b.textContent.includes('Older') && !b.disabled))
    const nextPage = async (expectFirst) => {
      await page.evaluate(() => {
        window.__pagedAt = performance.now()
        ;[...document.querySelectorAll('nav.pager button')].find((b) => b.textContent.includes('Older')).click()
      })
      return (await page.waitForFunction((first) => {
        const cell = document.querySelector('table[aria-label="agents"] tbody tr[data-row] td[data-label="Name"]')
        return cell && cell.textContent.trim() === first && performance.now() - window.__pagedAt
      }, expectFirst, { polling: 'raf', timeout: 60_000 })).jsonValue()
    }
    const nextPageMs = await nextPage(`fleet-${PAGE}`)
    assert.deepEqual(await names(), fleet(PAGE, PAGE))
    assert.equal(await page.locator('tbody tr').count(), PAGE)
    const second = requests[requests.length - 1]
    const mode = second.has('cursor') ? 'cursor' : 'offset'
    assert.ok(second.has('cursor') !== (Number(second.get('offset') ?? 0) > 0), `cursor or offset, never both: ${second}`)
    assert.ok(!second.has('total'))
    // Further on, the DOM still holds one page.
    for (let p = 2; p < 5; p++) await nextPage(`fleet-${p * PAGE}`)
    assert.deepEqual(await names(), fleet(4 * PAGE, PAGE))
    assert.equal(await page.locator('tbody tr').count(), PAGE)
    // (a server that pages by offset still counts every time: "of N")
    assert.match(await page.getByTestId('page-range').textContent(),
      new RegExp(`^${4 * PAGE + 1}–${5 * PAGE}( of ${N.toLocaleString('en')})?$`))
    // And back.
    await page.getByRole('button', { name: '← Newer' }).click()
    await page.waitForFunction((first) =>
      document.querySelector('table[aria-label="agents"] tbody tr[data-row] td[data-label="Name"]')?.textContent.trim() === first,
    `fleet-${3 * PAGE}`)
    assert.deepEqual(await names(), fleet(3 * PAGE, PAGE))
    // From the keyboard: arrows between rows, PageDown to the next page.
    await rows().first().focus()
    await page.keyboard.press('ArrowDown')
    assert.equal(await page.evaluate(() => document.activeElement.querySelector('td').textContent.trim()), `fleet-${3 * PAGE + 1}`)
    await page.keyboard.press('PageDown')
    await page.waitForFunction((first) => document.activeElement?.querySelector?.('td')?.textContent.trim() === first,
      `fleet-${4 * PAGE}`)
    assert.equal(await page.locator('tbody tr').count(), PAGE)

    const figures = { agents: N, page_size: PAGE, paging: mode, api_first_page_ms: apiMs,
      first_rows_ms: Math.round(firstRowsMs), next_page_ms: Math.round(nextPageMs), dom_rows: PAGE }
    fs.writeFileSync(path.join(SHOTS, 'scale-agents.json'), JSON.stringify(figures, null, 2) + '\n')
    t.diagnostic(JSON.stringify(figures))
  })
})
