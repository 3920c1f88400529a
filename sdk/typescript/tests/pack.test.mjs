// `npm pack` gives an installable tarball: installed into a fresh project,
// it imports as @sharkauth/sdk with its declarations, and nothing but dist/,
// the README and package.json is in it.
import { it, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shark-pack-'))
after(() => fs.rmSync(tmp, { recursive: true, force: true }))
const npm = (args, cwd) => execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

it('npm pack gives a tarball that installs and imports', { timeout: 180_000 }, () => {
  // --ignore-scripts: dist/ is already built (prepack would rebuild it).
  const listing = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], pkg))
  const files = listing[0].files.map((f) => f.path)
  assert.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts') && files.includes('README.md'), files.join(' '))
  assert.deepEqual(files.filter((f) => !f.startsWith('dist/') && f !== 'README.md' && f !== 'package.json'), [])
  const app = path.join(tmp, 'app')
  fs.mkdirSync(app)
  fs.writeFileSync(path.join(app, 'package.json'), '{"name":"app","private":true,"type":"module"}')
  npm(['install', '--prefer-offline', path.join(tmp, listing[0].filename)], app)
  const out = execFileSync(process.execPath, ['--input-type=module', '-e',
    "import * as sdk from '@sharkauth/sdk'; const p = await sdk.DPoPProver.generate(); console.log(Object.keys(sdk).length, p.jkt.length)"],
  { cwd: app, encoding: 'utf8' })
  const [exports, jktLength] = out.trim().split(' ').map(Number)
  assert.ok(exports > 20)
  assert.equal(jktLength, 43)
  const installed = JSON.parse(fs.readFileSync(path.join(app, 'node_modules/@sharkauth/sdk/package.json'), 'utf8'))
  assert.deepEqual(Object.keys(installed.dependencies), ['jose'])
  assert.ok(fs.existsSync(path.join(app, 'node_modules/jose')))
})
