// Starts and stops one real `shark serve` process (with its embedded
// PostgreSQL) for a test file, plus small helpers shared by the client tests.
// Nothing here is mocked: the binary, the database and the sockets are real.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { before, after, it } from 'node:test'
import * as oauth from 'oauth4webapi'

const here = path.dirname(fileURLToPath(import.meta.url))
export const SHARK_BIN = path.resolve(here, process.env.SHARK_BIN || '../../build/shark')

// oauth4webapi refuses http:// endpoints unless told otherwise; the server
// under test listens on plain http on loopback.
export const insecure = { [oauth.allowInsecureRequests]: true }

const live = new Set()

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function pidAlive(pid) {
  try {
    process.kill(pid, 0)
  } catch (e) {
    return e.code === 'EPERM'
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.split(')').pop().trim().split(/\s+/)[0] !== 'Z'
  } catch {
    return false
  }
}

export class Shark {
  // opts.fetch: how to reach it (a TLS server's issuer is https; pass
  // --tls-cert/--tls-key in extra and a fetch that trusts the certificate).
  constructor(extra = [], opts = {}) {
    this.extra = extra
    this.fetch = opts.fetch ?? fetch
    this.scheme = extra.includes('--tls-cert') ? 'https' : 'http'
    this.proc = null
    this.exited = null
  }

  async start() {
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shark-clients-'))
    // The embedded PostgreSQL runs as the postgres user, who must traverse it.
    fs.chmodSync(this.tmp, 0o711)
    this.dataDir = path.join(this.tmp, 'data')
    this.port = await freePort()
    this.issuer = `${this.scheme}://127.0.0.1:${this.port}`
    const env = { ...process.env }
    for (const k of Object.keys(env)) if (k.startsWith('SHARK_')) delete env[k]
    this.stderrPath = path.join(this.tmp, 'stderr.log')
    const errFd = fs.openSync(this.stderrPath, 'w')
    const outFd = fs.openSync(path.join(this.tmp, 'stdout.log'), 'w')
    const args = ['serve', '--listen', `127.0.0.1:${this.port}`, '--data-dir', this.dataDir,
      '--rate-limit', '0', '--log-level', 'warn', ...this.extra]
    this.proc = spawn(SHARK_BIN, args, { env, stdio: ['ignore', outFd, errFd] })
    fs.closeSync(errFd)
    fs.closeSync(outFd)
    live.add(this)
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => resolve({ code, signal }))
      this.proc.on('error', (err) => resolve({ code: null, signal: null, err }))
    })
    let exitedEarly = null
    this.exited.then((r) => { exitedEarly = r })
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      if (exitedEarly) {
        throw new Error(`shark exited during start (${JSON.stringify(exitedEarly)}):\n${this.stderr().slice(-4000)}`)
      }
      try {
        const r = await this.fetch(this.url('/healthz'), { signal: AbortSignal.timeout(2000) })
        await r.arrayBuffer()
        if (r.status === 200) break
      } catch { /* not up yet */ }
      await sleep(100)
    }
    if (Date.now() >= deadline) throw new Error(`shark not healthy after 60 s:\n${this.stderr().slice(-4000)}`)
    this.adminKey = fs.readFileSync(path.join(this.dataDir, 'admin.key.firstboot'), 'utf8').trim()
    return this
  }

  url(p) {
    return `${this.issuer}${p}`
  }

  stderr() {
    try {
      return fs.readFileSync(this.stderrPath, 'utf8')
    } catch {
      return ''
    }
  }

  postmasterPid() {
    try {
      const first = fs.readFileSync(path.join(this.dataDir, 'pg', 'data', 'postmaster.pid'), 'utf8').split('\n')[0]
      const pid = Number.parseInt(first, 10)
      return Number.isFinite(pid) ? pid : null
    } catch {
      return null
    }
  }

  async stop() {
    if (!this.proc) return
    const pgPid = this.postmasterPid()
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM')
      const res = await Promise.race([this.exited, sleep(15_000).then(() => 'timeout')])
      if (res === 'timeout') {
        this.proc.kill('SIGKILL')
        await Promise.race([this.exited, sleep(5_000)])
      }
    }
    // The embedded cluster should have gone with the server; make sure.
    if (pgPid && pidAlive(pgPid)) {
      const deadline = Date.now() + 10_000
      while (Date.now() < deadline && pidAlive(pgPid)) await sleep(100)
      if (pidAlive(pgPid)) {
        try { process.kill(pgPid, 'SIGQUIT') } catch { /* gone */ }
        await sleep(2000)
        try { process.kill(pgPid, 'SIGKILL') } catch { /* gone */ }
      }
    }
    live.delete(this)
    if (process.env.SHARK_KEEP_TMP !== '1') fs.rmSync(this.tmp, { recursive: true, force: true })
    this.proc = null
  }
}

// Last resort: if the test process dies without running after() hooks,
// don't leave servers behind.
process.on('exit', () => {
  for (const s of live) {
    try { s.proc?.kill('SIGKILL') } catch { /* ignore */ }
    const pg = s.postmasterPid()
    if (pg) try { process.kill(pg, 'SIGQUIT') } catch { /* ignore */ }
  }
})

// One server per test file. Call inside the file's outermost describe(), before
// anything else there: registers before()/after() hooks in that suite (node 20
// does not order root-level hooks before describe() suites), then runs
// setup(shark) (e.g. discovery). A failure to start or set up is reported by
// the test 'shark starts' instead of a failing hook, because node 20 counts a
// failing hook's tests as cancelled, not failed.
export function useShark(extra = [], setup = async () => {}, opts = {}) {
  const s = new Shark(extra, opts)
  let startError = null
  before(async () => {
    try {
      await s.start()
      await setup(s)
    } catch (e) {
      startError = e
    }
  }, { timeout: 120_000 })
  after(() => s.stop(), { timeout: 60_000 })
  it('shark starts', () => {
    if (startError) throw startError
  })
  return s
}

// The admin key of the server each discovered metadata came from.
const adminKeys = new WeakMap()

// Discovery through oauth4webapi.
export async function discover(shark) {
  const issuer = new URL(shark.issuer)
  const res = await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure })
  const as = await oauth.processDiscoveryResponse(issuer, res)
  adminKeys.set(as, shark.adminKey)
  return as
}

// Dynamic client registration (RFC 7591) through oauth4webapi, with the
// admin key as initial access token: anonymous registration gets neither
// client_credentials nor token exchange (test_dcr_policy.py).
export async function register(as, metadata) {
  const res = await oauth.dynamicClientRegistrationRequest(as, {
    grant_types: ['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'mcp:read mcp:write',
    ...metadata,
  }, { ...insecure, initialAccessToken: adminKeys.get(as) })
  return oauth.processDynamicClientRegistrationResponse(res)
}

// A raw form POST to the token endpoint (for cases a compliant library
// would refuse to send).
export async function postForm(url, body, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers },
    body: typeof body === 'string' ? body : new URLSearchParams(body).toString(),
  })
  const text = await res.text()
  let json = null
  try { json = JSON.parse(text) } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, json, text }
}

export function basic(clientId, secret) {
  // RFC 6749 §2.3.1: form-urlencode both parts before base64.
  const enc = (s) => encodeURIComponent(s).replace(/%20/g, '+')
  return 'Basic ' + Buffer.from(`${enc(clientId)}:${enc(secret)}`).toString('base64')
}

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
export const AT_TYPE = 'urn:ietf:params:oauth:token-type:access_token'

// A tiny browser for the login, consent and device pages: a cookie jar
// (Set-Cookie in, Cookie out), no automatic redirects, relative Locations
// resolved against the server.
export class Browser {
  constructor(base) {
    this.base = base
    this.jar = new Map()
  }

  cookieHeader() {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ')
  }

  async request(url, { method = 'GET', form, json, headers = {} } = {}) {
    const h = { ...headers }
    if (this.jar.size) h.cookie = this.cookieHeader()
    let body
    if (form !== undefined) {
      h['content-type'] = 'application/x-www-form-urlencoded'
      body = new URLSearchParams(form).toString()
    } else if (json !== undefined) {
      h['content-type'] = 'application/json'
      body = JSON.stringify(json)
    }
    const res = await fetch(new URL(url, this.base), { method, headers: h, body, redirect: 'manual' })
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';')
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq).trim()
      const value = pair.slice(eq + 1).trim()
      const gone = value === '' || attrs.some((a) => /^\s*max-age\s*=\s*0\s*$/i.test(a))
      if (gone) this.jar.delete(name)
      else this.jar.set(name, value)
    }
    const text = await res.text()
    let data = null
    try { data = JSON.parse(text) } catch { /* HTML or empty */ }
    const loc = res.headers.get('location')
    return {
      status: res.status,
      headers: res.headers,
      text,
      json: data,
      location: loc === null ? null : new URL(loc, this.base).href,
    }
  }

  get(url, opts) { return this.request(url, opts) }
  post(url, form, opts = {}) { return this.request(url, { ...opts, method: 'POST', form }) }
}

// The value of <input name=NAME value="..."> in a page (HTML entities undone).
export function inputValue(html, name) {
  const re = new RegExp(`<input[^>]*\\bname=["']?${name}["']?[^>]*>`, 'i')
  const tag = html.match(re)?.[0]
  if (!tag) return null
  const v = tag.match(/\bvalue=(?:"([^"]*)"|'([^']*)'|([^\s>]+))/i)
  if (!v) return null
  return (v[1] ?? v[2] ?? v[3]).replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>').replace(/&amp;/g, '&')
}
