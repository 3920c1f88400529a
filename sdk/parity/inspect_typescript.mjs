// Prints the public surface of the built @sharkauth/sdk (sdk/typescript/dist)
// as JSON, in the shape inspect_python.py gives for shark_auth: read from
// the declaration files with the TypeScript compiler (classes with their
// constructor parameters, methods and their parameters, properties;
// interfaces' fields; functions), then checked against the JavaScript the
// package really exports. A parameter named `options` stands for its
// properties (TypeScript's keyword arguments).
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
export const pkgDir = path.resolve(here, '../typescript')
const require = createRequire(path.join(pkgDir, 'package.json'))

export async function typescriptSurface() {
  const ts = require('typescript')
  const entry = path.join(pkgDir, 'dist/index.d.ts')
  const program = ts.createProgram([entry], { strict: true, noEmit: true, skipLibCheck: true, lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'] })
  const checker = program.getTypeChecker()
  const source = program.getSourceFile(entry)
  if (!source) throw new Error(`no ${entry}: build the package first (npm run build in sdk/typescript)`)
  const moduleSym = checker.getSymbolAtLocation(source)

  const isPublic = (sym) => {
    if (sym.name.startsWith('#') || sym.name.startsWith('_') || sym.name === 'prototype') return false
    const d = sym.valueDeclaration ?? sym.declarations?.[0]
    const mods = d ? ts.getCombinedModifierFlags(d) : 0
    return !(mods & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected))
  }

  const objectPart = (type) => {
    const parts = type.isUnion() ? type.types : [type]
    return parts.filter((t) => !(t.flags & (ts.TypeFlags.Undefined | ts.TypeFlags.Null | ts.TypeFlags.StringLike | ts.TypeFlags.NumberLike | ts.TypeFlags.BooleanLike)))
  }

  const params = (signature) => {
    const out = []
    for (const p of signature.parameters) {
      if (p.name !== 'options') { out.push(p.name); continue }
      const decl = p.valueDeclaration
      const t = checker.getTypeOfSymbolAtLocation(p, decl)
      for (const part of objectPart(t)) for (const prop of checker.getPropertiesOfType(part)) if (!out.includes(prop.name)) out.push(prop.name)
    }
    return out
  }

  const isMethod = (sym) => (sym.declarations ?? []).some((d) => ts.isMethodDeclaration(d) || ts.isMethodSignature(d))
  const firstSignature = (sym) => {
    const t = checker.getTypeOfSymbol(sym)
    return checker.getSignaturesOfType(t, ts.SignatureKind.Call)[0]
  }

  const surface = { classes: {}, functions: {} }
  for (let sym of checker.getExportsOfModule(moduleSym)) {
    const name = sym.name
    if (sym.flags & ts.SymbolFlags.Alias) sym = checker.getAliasedSymbol(sym)
    const decl = sym.declarations?.[0]
    if (!decl) continue
    if (ts.isClassDeclaration(decl)) {
      const d = { kind: 'class', init: [], methods: {}, properties: [], fields: [] }
      const instance = checker.getDeclaredTypeOfSymbol(sym)
      const staticType = checker.getTypeOfSymbolAtLocation(sym, decl)
      const base = instance.getBaseTypes?.()?.[0]
      if (base) {
        const chain = []
        for (let b = instance; b; b = b.getBaseTypes?.()?.[0]) chain.push(b.symbol?.name)
        if (chain.includes('Error')) { d.kind = 'error'; d.base = base.symbol?.name }
      }
      const ctor = checker.getSignaturesOfType(staticType, ts.SignatureKind.Construct)[0]
      const ctorDecl = ctor?.declaration
      const ctorPrivate = ctorDecl && (ts.getCombinedModifierFlags(ctorDecl) & ts.ModifierFlags.Private)
      if (ctor && !ctorPrivate) d.init = params(ctor)
      for (const m of [...checker.getPropertiesOfType(instance), ...checker.getPropertiesOfType(staticType)]) {
        if (!isPublic(m)) continue
        const owner = m.valueDeclaration?.parent
        // Error's own members (message, name, stack, cause) are not the SDK's surface.
        if (owner && owner.getSourceFile().fileName.includes('/typescript/lib/')) continue
        if (isMethod(m)) d.methods[m.name] = params(firstSignature(m))
        else if (!d.properties.includes(m.name)) d.properties.push(m.name)
      }
      d.properties.sort()
      surface.classes[name] = d
    } else if (ts.isInterfaceDeclaration(decl) || ts.isTypeAliasDeclaration(decl)) {
      const t = checker.getDeclaredTypeOfSymbol(sym)
      if (t.isUnion() || ts.isTypeAliasDeclaration(decl)) continue // option and key unions are not results
      const fields = checker.getPropertiesOfType(t).map((p) => p.name)
      // Option bags are compared as the parameters they stand for.
      const kind = /Options$|Query$|^RequestLike$/.test(name) ? 'options' : 'result'
      surface.classes[name] = { kind, init: [], methods: {}, properties: [], fields }
    } else if (ts.isFunctionDeclaration(decl)) {
      surface.functions[name] = params(firstSignature(sym))
    } else if (ts.isVariableDeclaration(decl)) {
      surface.constants ??= []
      surface.constants.push(name)
    }
  }

  // What the declarations promise, the JavaScript must have.
  const js = await import(pathToFileURL(path.join(pkgDir, 'dist/index.js')).href)
  const missing = []
  for (const [name, c] of Object.entries(surface.classes)) {
    if (c.kind === 'result' || c.kind === 'options') continue
    const C = js[name]
    if (typeof C !== 'function') { missing.push(name); continue }
    for (const m of Object.keys(c.methods)) {
      if (typeof C.prototype[m] !== 'function' && typeof C[m] !== 'function') missing.push(`${name}.${m}`)
    }
  }
  for (const f of Object.keys(surface.functions)) if (typeof js[f] !== 'function') missing.push(f)
  surface.missingAtRuntime = missing
  return surface
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(await typescriptSurface(), null, 1))
}
