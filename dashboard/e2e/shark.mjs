// One real `shark serve` (with its embedded PostgreSQL) for the browser
// tests, and the admin API calls they make around the browser.
import { spawn } from 'node:child_process'
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

  // A token from /oauth/token with client_secret_basic.
  async token(clientId, secret, params) {
    const r = await fetch(this.url('/oauth/token'), {
      method: 'POST',
      headers: {
        Authorization: 'Basic ' + Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64'),
        'Content-Type': 'application/x-www-form-urlencoded',
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

export function jti(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()).jti
}
