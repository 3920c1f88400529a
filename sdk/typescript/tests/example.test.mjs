// examples/typescript, compiled with tsc and run unmodified against a real
// shark: the MCP-style server protected by ResourceServer, and the agent
// that discovers it through the 401 challenge and RFC 9728 metadata and
// calls its tools with DPoP. The example imports '@sharkauth/sdk', which
// resolves to this package through a node_modules link in a scratch dir.
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { useShark } from './shark.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const pkg = path.resolve(here, '..')
const example = path.resolve(pkg, '../../examples/typescript')

function run(cmd, args, env) {
  const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  p.stdout.on('data', (d) => { out += d })
  p.stderr.on('data', (d) => { out += d })
  p.done = new Promise((resolve) => p.on('exit', (code) => resolve(code)))
  p.output = () => out
  return p
}

describe('examples/typescript', () => {
  const shark = useShark()
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shark-example-'))
  let server
  after(async () => {
    if (server && server.exitCode === null) { server.kill('SIGTERM'); await server.done }
    fs.rmSync(tmp, { recursive: true, force: true })
  })

  it('compiles with tsc against the SDK\'s declarations', () => {
    fs.mkdirSync(path.join(tmp, 'node_modules/@sharkauth'), { recursive: true })
    fs.symlinkSync(pkg, path.join(tmp, 'node_modules/@sharkauth/sdk'))
    fs.mkdirSync(path.join(tmp, 'node_modules/@types'))
    fs.symlinkSync(path.join(pkg, 'node_modules/@types/node'), path.join(tmp, 'node_modules/@types/node'))
    fs.writeFileSync(path.join(tmp, 'package.json'), '{"type":"module"}')
    for (const f of ['server.ts', 'agent.ts', 'tsconfig.json']) fs.copyFileSync(path.join(example, f), path.join(tmp, f))
    try {
      execFileSync(process.execPath, [path.join(pkg, 'node_modules/typescript/bin/tsc'), '-p', path.join(tmp, 'tsconfig.json')], { stdio: 'pipe', encoding: 'utf8' })
    } catch (e) {
      throw new Error(`tsc failed:\n${e.stdout}${e.stderr}`)
    }
    assert.ok(fs.existsSync(path.join(tmp, 'dist/server.js')) && fs.existsSync(path.join(tmp, 'dist/agent.js')))
  })

  it('the agent discovers the server, is refused a write with 403, and calls every tool', async () => {
    server = run(process.execPath, [path.join(tmp, 'dist/server.js')], { SHARK_URL: shark.url, PORT: '0' })
    let url
    for (let i = 0; i < 200 && !url; i++) {
      url = /MCP server at (\S+)/.exec(server.output())?.[1]
      if (!url) await new Promise((r) => setTimeout(r, 50))
    }
    assert.ok(url, `the server did not start: ${server.output()}`)
    const agent = run(process.execPath, [path.join(tmp, 'dist/agent.js')], { MCP_URL: url, SHARK_ADMIN_KEY: shark.adminKey })
    const code = await agent.done
    const out = agent.output()
    assert.equal(code, 0, out)
    assert.match(out, new RegExp(`authorization server ${shark.url}`))
    assert.match(out, /tools: whoami, list_notes, write_note/)
    assert.match(out, /"clientId":"shark_agent_/)
    assert.match(out, /write_note with mcp:read only: 403 DPoP error="insufficient_scope"/)
    assert.match(out, /list_notes: \{"notes":\["hello from the agent"\]\}/)
    assert.match(out, /^ok$/m)
    // Without a token the server answers as MCP clients expect.
    const r = await fetch(url, { method: 'POST', body: '{}' })
    assert.equal(r.status, 401)
    const meta = await (await fetch(new URL('/.well-known/oauth-protected-resource/mcp', url))).json()
    assert.equal(meta.resource, url)
    assert.deepEqual(meta.authorization_servers, [shark.url])
  })
})
