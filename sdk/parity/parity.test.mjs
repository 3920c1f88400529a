// The parity test (issue 16, point 9): sdk/parity/parity.json is checked
// against both SDKs — the TypeScript package as built (its declarations
// read with the TypeScript compiler, its JavaScript imported), the Python
// package through inspect (inspect_python.py). Each row of the table is one
// test that fails when either SDK has a method, parameter or field the row
// does not list, or lacks one it lists; two more fail on exports the table
// does not know. PARITY_PYTHON names the interpreter that has shark_auth
// and its dependencies (test/run: a fresh venv); PARITY_PYTHONPATH, if set,
// is its PYTHONPATH (a source tree instead of the installed package).
import { describe, it, before } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { typescriptSurface } from './inspect_typescript.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const table = JSON.parse(fs.readFileSync(path.join(here, 'parity.json'), 'utf8'))
const camel = (s) => s.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase())

// 'py', 'py:ts', '-:ts', 'py:-', each optionally followed by ' # why'.
function parse(spec, { sameName = false } = {}) {
  const [head, why] = spec.split(' # ')
  const [a, b] = head.includes(':') ? head.split(':') : [head, undefined]
  const py = a === '-' ? null : a
  const ts = b === '-' ? null : b ?? (sameName ? a : camel(a))
  return { py, ts, why, spec }
}

function pythonSurface() {
  const python = process.env.PARITY_PYTHON || '/usr/bin/python3'
  const env = { ...process.env }
  if (process.env.PARITY_PYTHONPATH) env.PYTHONPATH = process.env.PARITY_PYTHONPATH
  else delete env.PYTHONPATH
  return JSON.parse(execFileSync(python, [path.join(here, 'inspect_python.py')], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }))
}

// Compares one list of a side with the table's specs of that side.
function same(actual, specs, side, what) {
  const want = specs.map((s) => s[side]).filter((x) => x !== null)
  const missing = want.filter((x) => !actual.includes(x))
  const extra = actual.filter((x) => !want.includes(x))
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] },
    `${side === 'py' ? 'Python' : 'TypeScript'} ${what}: ${missing.length ? `lacks ${missing.join(', ')}` : ''}${missing.length && extra.length ? '; ' : ''}${extra.length ? `has ${extra.join(', ')} that the table does not list` : ''}`)
}

describe('SDK parity', () => {
  const surfaces = {}
  let loadError = null
  before(async () => {
    try {
      surfaces.ts = await typescriptSurface()
      surfaces.py = pythonSurface()
    } catch (e) {
      loadError = e
    }
  })

  it('both SDKs load (TypeScript built, shark_auth importable)', () => {
    if (loadError) throw loadError
    assert.deepEqual(surfaces.ts.missingAtRuntime, [], 'the TypeScript declarations promise what dist/index.js lacks')
  })

  it('every one-sided entry of the table says why', () => {
    const bare = []
    const walk = (spec, inherited) => {
      const s = parse(spec)
      if ((s.py === null || s.ts === null) && !s.why && !inherited) bare.push(spec)
      return s.py === null || s.ts === null
    }
    for (const [key, row] of Object.entries(table.classes)) {
      const rowOneSided = walk(key, !!row.why) || !!row.why
      for (const p of row.init ?? []) walk(p, rowOneSided)
      for (const f of row.fields ?? []) walk(f, rowOneSided)
      for (const [m, ps] of Object.entries(row.methods ?? {})) {
        const one = walk(m, rowOneSided)
        for (const p of ps) walk(p, rowOneSided || one)
      }
    }
    for (const [f, ps] of Object.entries(table.functions)) {
      const one = walk(f, false)
      for (const p of ps) walk(p, one)
    }
    assert.deepEqual(bare, [])
  })

  for (const side of ['py', 'ts']) {
    const label = side === 'py' ? 'Python' : 'TypeScript'
    it(`every ${label} export is in the table`, () => {
      if (loadError) throw loadError
      const rows = Object.keys(table.classes).map((k) => parse(k, { sameName: true })[side])
      const classes = Object.entries(surfaces[side].classes).filter(([, c]) => c.kind !== 'options').map(([n]) => n)
      same(classes, Object.keys(table.classes).map((k) => parse(k, { sameName: true })), side, 'exports')
      assert.ok(rows.length > 0)
      same(Object.keys(surfaces[side].functions), Object.keys(table.functions).map((k) => parse(k)), side, 'functions')
    })
  }

  for (const [key, row] of Object.entries(table.classes)) {
    const names = parse(key, { sameName: true })
    it(`${names.py ?? '-'} / ${names.ts ?? '-'}`, () => {
      if (loadError) throw loadError
      for (const side of ['py', 'ts']) {
        const name = names[side]
        if (name === null) continue
        const c = surfaces[side].classes[name]
        assert.ok(c, `${side === 'py' ? 'Python' : 'TypeScript'} has no ${name}`)
        if (row.base) {
          const base = parse(row.base, { sameName: true })
          assert.equal(c.base, side === 'py' ? base.py : base.ts, `${name} derives from ${c.base}`)
        }
        if (row.init) same(c.init, row.init.map((p) => parse(p)), side, `${name}() parameters`)
        if (row.fields) same([...new Set([...c.fields, ...c.properties])], row.fields.map((f) => parse(f)), side, `${name} fields`)
        const methods = Object.entries(row.methods ?? {}).map(([m, ps]) => [parse(m), ps])
        same(Object.keys(c.methods), methods.map(([m]) => m), side, `${name} methods`)
        for (const [m, ps] of methods) {
          if (m[side] === null) continue
          same(c.methods[m[side]], ps.map((p) => parse(p)), side, `${name}.${m[side]}() parameters`)
        }
      }
    })
  }

  for (const [key, ps] of Object.entries(table.functions)) {
    const names = parse(key)
    it(`function ${names.py ?? '-'} / ${names.ts ?? '-'}`, () => {
      if (loadError) throw loadError
      for (const side of ['py', 'ts']) {
        if (names[side] === null) continue
        const f = surfaces[side].functions[names[side]]
        assert.ok(f, `no function ${names[side]}`)
        same(f, ps.map((p) => parse(p)), side, `${names[side]}() parameters`)
      }
    })
  }
})
