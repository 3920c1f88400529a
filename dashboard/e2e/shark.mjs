// One real `shark serve` (with its embedded PostgreSQL) for the browser
// tests, and the admin API calls they make around the browser.
import { spawn, spawnSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
export const SHARK_BIN = path.resolve(here, '..', process.env.SHARK_BIN || '../build/shark')
// Screenshots go under the build directory of the binary under test.
export const SHOTS = process.env.SHARK_SCREENSHOTS || path.join(path.dirname(SHARK_BIN), 'dashboard-screenshots')

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

export class Shark {
  async start() {
    this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shark-dash-'))
    fs.chmodSync(this.tmp, 0o711) // the embedded cluster runs as postgres when we are root
    this.dataDir = path.join(this.tmp, 'data')
    this.port = await freePort()
    this.base = `http://127.0.0.1:${this.port}`
    const env = { ...process.env }
    for (const k of Object.keys(env)) if (k.startsWith('SHARK_')) delete env[k]
    const err = fs.openSync(path.join(this.tmp, 'stderr.log'), 'w')
    this.proc = spawn(SHARK_BIN, ['serve', '--listen', `127.0.0.1:${this.port}`, '--data-dir', this.dataDir,
      '--rate-limit', '0', '--log-level', 'warn'], { env, stdio: ['ignore', 'ignore', err] })
    fs.closeSync(err)
    this.exited = new Promise((r) => this.proc.on('exit', r))
    const deadline = Date.now() + 90_000
    for (;;) {
      if (this.proc.exitCode !== null) throw new Error(`shark exited: ${this.stderr().slice(-3000)}`)
      try {
        const r = await fetch(this.url('/healthz'))
        await r.arrayBuffer()
        if (r.ok) break
      } catch { /* not yet */ }
      if (Date.now() > deadline) throw new Error('shark not healthy in 90 s')
      await sleep(150)
    }
    this.adminKey = fs.readFileSync(path.join(this.dataDir, 'admin.key.firstboot'), 'utf8').trim()
    return this
  }

  url(p) { return this.base + p }

  stderr() {
    try { return fs.readFileSync(path.join(this.tmp, 'stderr.log'), 'utf8') } catch { return '' }
  }

  // An admin API call with the key (the test's own setup, beside the browser).
  async admin(method, p, body) {
    const r = await fetch(this.url(p), {
      method,
      headers: { Authorization: `Bearer ${this.adminKey}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    })
    const text = await r.text()
    if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${text}`)
    return text ? JSON.parse(text) : null
  }

  // SQL against the server's embedded database (psql over its socket), to
  // populate rows in the server's own shapes faster than the API would.
  sql(q) {
    const pg = path.join(this.dataDir, 'pg')
    const r = spawnSync('psql', [`host=${path.join(pg, 'run')} dbname=shark user=shark`, '-X', '-A', '-t',
      '-v', 'ON_ERROR_STOP=1', '-c', q], {
      encoding: 'utf8',
      env: { ...process.env, PGPASSWORD: fs.readFileSync(path.join(pg, 'password'), 'utf8').trim() },
      timeout: 600_000,
    })
    if (r.status !== 0) throw new Error(`psql: ${r.stderr || r.error}`)
    return r.stdout.trim()
  }

  // What /oauth/introspect says of a token (asked with the admin key).
  async introspect(token) {
    const r = await fetch(this.url('/oauth/introspect'), {
      method: 'POST',
      headers: { Authorization: `Bearer ${this.adminKey}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    })
    if (!r.ok) throw new Error(`introspect: ${r.status} ${await r.text()}`)
    return r.json()
  }

  // A token from /oauth/token with client_secret_basic (DPoP-bound with a key).
  async token(clientId, secret, params, key) {
    const r = await fetch(this.url('/oauth/token'), {
      method: 'POST',
      headers: {
        Authorization: 'Basic ' + Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64'),
        'Content-Type': 'application/x-www-form-urlencoded',
        ...(key ? { DPoP: key.proof(this.url('/oauth/token'), 'POST') } : {}),
      },
      body: new URLSearchParams(params),
    })
    const j = await r.json()
    if (!r.ok) throw new Error(`token: ${r.status} ${JSON.stringify(j)}`)
    return j
  }

  async stop() {
    if (!this.proc) return
    if (this.proc.exitCode === null) {
      this.proc.kill('SIGTERM')
      const t = await Promise.race([this.exited, sleep(20_000).then(() => 'timeout')])
      if (t === 'timeout') this.proc.kill('SIGKILL')
    }
    this.proc = null
    fs.rmSync(this.tmp, { recursive: true, force: true })
  }
}

// An ES256 DPoP key (RFC 9449) and its proofs.
export function dpopKey() {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' })
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url')
  return {
    jwk: { kty, crv, x, y },
    proof(htu, htm, token) {
      const claims = { jti: crypto.randomUUID(), htm, htu, iat: Math.floor(Date.now() / 1000) }
      if (token) claims.ath = crypto.createHash('sha256').update(token).digest('base64url')
      const si = `${b64({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } })}.${b64(claims)}`
      const sig = crypto.sign('sha256', Buffer.from(si), { key: privateKey, dsaEncoding: 'ieee-p1363' })
      return `${si}.${sig.toString('base64url')}`
    },
  }
}

export function jti(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()).jti
}
