// A real `shark serve` (its own embedded PostgreSQL in a throwaway data
// directory) for one test file, and the real flows the tests need: a person
// signing up, and the authorization-code flow through the hosted login and
// consent pages. Nothing is mocked.
import { spawn } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { before, after, it } from 'node:test'

const here = path.dirname(fileURLToPath(import.meta.url))
export const SHARK_BIN = path.resolve(here, process.env.SHARK_BIN || '../../../build/shark')
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
// A timer that does not keep the process alive (for races against exit).
const idleSleep = (ms) => new Promise((r) => setTimeout(r, ms).unref())

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

const live = new Set()

export class Shark {
  constructor(extra = []) {
    this.extra = extra
  }

  async start() {
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shark-sdk-ts-'))
    fs.chmodSync(this.tmp, 0o711) // the embedded PostgreSQL's user must traverse it
    this.dataDir = path.join(this.tmp, 'data')
    this.port = await freePort()
    this.url = `http://127.0.0.1:${this.port}`
    const env = { ...process.env }
    for (const k of Object.keys(env)) if (k.startsWith('SHARK_')) delete env[k]
    const err = fs.openSync(path.join(this.tmp, 'stderr.log'), 'w')
    this.proc = spawn(SHARK_BIN, ['serve', '--listen', `127.0.0.1:${this.port}`, '--data-dir', this.dataDir,
      '--rate-limit', '0', '--log-level', 'warn', '--threads', '2', '--shutdown-timeout', '2', ...this.extra], { env, stdio: ['ignore', 'ignore', err] })
    fs.closeSync(err)
    live.add(this)
    let exited = null
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })))
    this.exited.then((r) => { exited = r })
    const deadline = Date.now() + 90_000
    for (;;) {
      if (exited) throw new Error(`shark exited at start (${JSON.stringify(exited)}):\n${this.stderr().slice(-3000)}`)
      if (Date.now() > deadline) throw new Error(`shark not healthy after 90 s:\n${this.stderr().slice(-3000)}`)
      try {
        const r = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(2000) })
        await r.arrayBuffer()
        if (r.status === 200) break
      } catch { /* not up yet */ }
      await sleep(100)
    }
    this.adminKey = fs.readFileSync(path.join(this.dataDir, 'admin.key.firstboot'), 'utf8').trim()
    return this
  }

  stderr() {
    try { return fs.readFileSync(path.join(this.tmp, 'stderr.log'), 'utf8') } catch { return '' }
  }

  async stop() {
    if (!this.proc) return
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM')
      if (await Promise.race([this.exited, idleSleep(20_000).then(() => 'timeout')]) === 'timeout') {
        this.proc.kill('SIGKILL')
        await Promise.race([this.exited, idleSleep(5000)])
      }
    }
    live.delete(this)
    fs.rmSync(this.tmp, { recursive: true, force: true })
    this.proc = null
  }
}

process.on('exit', () => { for (const s of live) try { s.proc?.kill('SIGKILL') } catch { /* gone */ } })

// One server per test file: call first inside the outermost describe().
// A failed start fails the test 'shark starts' (a failing hook would only
// cancel the tests).
export function useShark(extra = []) {
  const s = new Shark(extra)
  let startError = null
  before(async () => { try { await s.start() } catch (e) { startError = e } }, { timeout: 120_000 })
  after(() => s.stop(), { timeout: 60_000 })
  it('shark starts', () => { if (startError) throw startError })
  return s
}

let seq = 0
export const uniq = (p) => `${p}${process.pid}${Date.now().toString(36)}${++seq}`

// A cookie-jar browser without automatic redirects, for the hosted pages.
export class Browser {
  constructor(base) { this.base = base; this.jar = new Map() }

  async request(url, { method = 'GET', form, json } = {}) {
    const headers = {}
    if (this.jar.size) headers.cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ')
    let body
    if (form) { headers['content-type'] = 'application/x-www-form-urlencoded'; body = new URLSearchParams(form).toString() }
    if (json) { headers['content-type'] = 'application/json'; body = JSON.stringify(json) }
    const res = await fetch(new URL(url, this.base), { method, headers, body, redirect: 'manual' })
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';')
      const eq = pair.indexOf('=')
      const v = pair.slice(eq + 1).trim()
      if (v === '' || /max-age=0/i.test(c)) this.jar.delete(pair.slice(0, eq).trim())
      else this.jar.set(pair.slice(0, eq).trim(), v)
    }
    const text = await res.text()
    let data = null
    try { data = JSON.parse(text) } catch { /* HTML */ }
    const loc = res.headers.get('location')
    return { status: res.status, text, json: data, location: loc && new URL(loc, this.base).href }
  }
}

export function inputValue(html, name) {
  const tag = html.match(new RegExp(`<input[^>]*\\bname=["']?${name}["']?[^>]*>`, 'i'))?.[0]
  const v = tag?.match(/\bvalue=(?:"([^"]*)"|'([^']*)'|([^\s>]+))/i)
  return v ? (v[1] ?? v[2] ?? v[3]).replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>').replace(/&amp;/g, '&') : null
}

export const PASSWORD = 'correct horse battery staple'

/** A person signs up through the account API; returns { id, email, browser }. */
export async function signUp(shark) {
  const b = new Browser(shark.url)
  const email = `${uniq('p')}@example.com`
  const r = await b.request('/api/v1/auth/signup', { method: 'POST', json: { email, password: PASSWORD, name: 'Test Person' } })
  if (r.status !== 201) throw new Error(`signup: ${r.status} ${r.text}`)
  return { id: r.json.user.id, email, browser: b }
}

const REDIRECT = 'http://127.0.0.1:8976/cb'

/**
 * A code client registered by DCR (admin key as initial access token), and
 * the person's user-delegated tokens from the real authorization-code flow
 * with PKCE, the access token's audience set to `audience`:
 * { accessToken, refreshToken, client }.
 */
export async function userDelegatedToken(shark, person, { scope, audience }) {
  const reg = await fetch(`${shark.url}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${shark.adminKey}` },
    body: JSON.stringify({ client_name: uniq('app'), redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_basic', scope }),
  })
  const client = await reg.json()
  if (reg.status !== 201) throw new Error(`register: ${reg.status} ${JSON.stringify(client)}`)
  const verifier = crypto.randomBytes(32).toString('base64url')
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url')
  const state = crypto.randomBytes(8).toString('hex')
  const u = new URL(`${shark.url}/oauth/authorize`)
  for (const [k, v] of Object.entries({ response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, scope, state,
    code_challenge: challenge, code_challenge_method: 'S256' })) u.searchParams.set(k, v)
  const b = person.browser
  let res = await b.request(u.href)
  if (res.status === 303 && new URL(res.location).pathname === '/login') {
    const login = await b.request(res.location)
    const request = new URL(res.location).searchParams.get('request')
    const posted = await b.request('/login', { method: 'POST', form: { request, login_csrf: inputValue(login.text, 'login_csrf'), email: person.email, password: PASSWORD } })
    res = await b.request(posted.location)
  }
  if (res.status === 200) {
    res = await b.request('/oauth/authorize/decision', { method: 'POST', form: {
      request: inputValue(res.text, 'request'), decision: 'approve', csrf_token: inputValue(res.text, 'csrf_token') } })
  }
  if (res.status !== 303 || !res.location.startsWith(REDIRECT)) throw new Error(`authorize: ${res.status} ${res.text.slice(0, 300)}`)
  const code = new URL(res.location).searchParams.get('code')
  const basic = Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64')
  const tok = await fetch(`${shark.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}` },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, audience }).toString(),
  })
  const t = await tok.json()
  if (tok.status !== 200) throw new Error(`code exchange: ${tok.status} ${JSON.stringify(t)}`)
  return { accessToken: t.access_token, refreshToken: t.refresh_token, client }
}
