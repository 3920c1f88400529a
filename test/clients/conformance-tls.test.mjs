// openid-client 6's discovery against an https issuer (--tls-cert), with no
// insecure-request allowance: the documents hold up under a certified
// client's https rules too. Its fetch trusts exactly the test certificate.
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import * as client from 'openid-client'
import * as jose from 'jose'
import { useShark } from './shark.mjs'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shark-conf-tls-'))
const cert = path.join(dir, 'cert.pem')
const key = path.join(dir, 'key.pem')
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
  '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
{ stdio: 'ignore' })
const ca = fs.readFileSync(cert)

// fetch over node:https, trusting only ca.
function trustingFetch(input, init = {}) {
  const url = new URL(input instanceof Request ? input.url : input)
  const headers = Object.fromEntries(new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined)))
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: init.method ?? 'GET', headers, ca, signal: init.signal }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => {
        const h = new Headers()
        for (const [k, v] of Object.entries(res.headers)) for (const one of [].concat(v)) h.append(k, one)
        const empty = res.statusCode === 204 || res.statusCode === 304
        resolve(new Response(empty ? null : Buffer.concat(chunks), { status: res.statusCode, headers: h }))
      })
    })
    req.on('error', reject)
    req.end(init.body === undefined || init.body === null ? undefined : String(init.body))
  })
}

describe('conformance over https (openid-client)', () => {
  const shark = useShark(['--tls-cert', cert, '--tls-key', key], async () => {}, { fetch: trustingFetch })
  after(() => fs.rmSync(dir, { recursive: true, force: true }))

  it('discovery, registration and a grant with https rules and no insecure allowance', async () => {
    assert.ok(shark.issuer.startsWith('https://'))
    const issuer = new URL(shark.issuer)
    const options = { [client.customFetch]: trustingFetch }
    const reg = await client.dynamicClientRegistration(issuer, {
      grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', scope: 'mcp:read',
    }, undefined, { ...options, initialAccessToken: shark.adminKey })
    const m = reg.serverMetadata()
    assert.equal(m.issuer, shark.issuer)
    for (const k of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint', 'end_session_endpoint',
      'introspection_endpoint', 'revocation_endpoint', 'pushed_authorization_request_endpoint']) {
      assert.ok(m[k].startsWith(`${shark.issuer}/`), k)
    }
    // a fresh discovery with the registered client, as an app would start
    const config = await client.discovery(issuer, reg.clientMetadata().client_id,
      reg.clientMetadata().client_secret, undefined, options)
    config[client.customFetch] = trustingFetch
    const t = await client.clientCredentialsGrant(config, { scope: 'mcp:read' })
    const jwks = await (await trustingFetch(m.jwks_uri)).json()
    const { payload } = await jose.jwtVerify(t.access_token, jose.createLocalJWKSet(jwks),
      { issuer: shark.issuer, typ: 'at+jwt' })
    assert.equal(payload.client_id, reg.clientMetadata().client_id)
  })
})
