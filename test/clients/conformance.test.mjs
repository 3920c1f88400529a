// OpenID Connect / OAuth conformance (issue 14) through openid-client 6, an
// OpenID-certified relying party, unmodified: its discovery and the checks it
// makes on every response (iss on the redirect, id_token signature, alg,
// nonce, auth_time against max_age, at_hash), against a server started with
// --dpop-nonce on, so each DPoP request goes through its nonce retry.
// Covered: prompt=login and max_age, the three response modes, PAR with a
// DPoP key binding the code, userinfo with that key, JWT introspection (RFC
// 9701), RP-initiated logout, private_key_jwt (aud = issuer), request objects
// (JAR), default scopes at registration, and error shapes.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import * as client from 'openid-client'
import * as jose from 'jose'
import { useShark, Browser, inputValue } from './shark.mjs'

const PASSWORD = 'correct horse battery'
const REDIRECT = 'http://127.0.0.1:8976/cb'
const AFTER = 'https://rp.example.test/bye'
let seq = 0

describe('conformance (openid-client)', () => {
  let issuer
  const shark = useShark(['--dpop-nonce', 'on'], async (s) => {
    issuer = new URL(s.issuer)
  })

  // openid-client's discovery; the server is plain http on loopback.
  const configure = (clientId, metadata, auth) =>
    client.discovery(issuer, clientId, metadata, auth, { execute: [client.allowInsecureRequests] })

  // A person with a browser session (signup sets the cookie).
  async function person() {
    const b = new Browser(shark.issuer)
    const email = `conf-${process.pid}-${Date.now()}-${++seq}@example.com`
    const r = await b.request('/api/v1/auth/signup', { method: 'POST', json: { email, password: PASSWORD, name: 'Conf' } })
    assert.equal(r.status, 201, r.text)
    return { email, id: r.json.user.id, browser: b }
  }

  // Dynamic registration through openid-client (the admin key as initial
  // access token); returns its Configuration.
  async function registerClient(metadata = {}, auth) {
    return client.dynamicClientRegistration(issuer, {
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'openid email profile',
      post_logout_redirect_uris: [AFTER],
      ...metadata,
    }, auth, { initialAccessToken: shark.adminKey, execute: [client.allowInsecureRequests] })
  }

  // From an authorization URL to the answer for the client: signs in on the
  // login page when sent there, approves consent when asked.
  async function front(p, url) {
    let r = await p.browser.get(url.href)
    if (r.status === 303 && new URL(r.location).pathname === '/login') {
      const page = await p.browser.get(r.location)
      r = await p.browser.post('/login', {
        email: p.email, password: PASSWORD,
        login_csrf: inputValue(page.text, 'login_csrf'), request: inputValue(page.text, 'request'),
      })
      assert.equal(r.status, 303, r.text)
      r = await p.browser.get(r.location)
      r.signedIn = true
    }
    if (r.status === 200 && r.text.includes('wants to act for you')) {
      const signedIn = r.signedIn
      r = await p.browser.post('/oauth/authorize/decision', {
        request: inputValue(r.text, 'request'), csrf_token: inputValue(r.text, 'csrf_token'), decision: 'approve',
      })
      r.signedIn = signedIn
    }
    return r
  }

  async function codeFlow(config, p, params = {}, checks = {}, options = undefined) {
    const verifier = client.randomPKCECodeVerifier()
    const state = client.randomState()
    const nonce = client.randomNonce()
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid email', state, nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      ...params,
    })
    const r = await front(p, url)
    assert.equal(r.status, 303, r.text)
    const tokens = await client.authorizationCodeGrant(config, new URL(r.location),
      { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, ...checks }, undefined, options)
    return { tokens, signedIn: r.signedIn }
  }

  it('discovery: openid-client accepts the document and sees what is supported', async () => {
    const config = await configure('anyone')
    const m = config.serverMetadata()
    assert.equal(m.issuer, shark.issuer)
    assert.deepEqual(m.response_modes_supported, ['query', 'fragment', 'form_post'])
    assert.ok(m.id_token_signing_alg_values_supported.includes('RS256'))
    assert.equal(m.end_session_endpoint, `${shark.issuer}/oauth/logout`)
    assert.ok(!m.introspection_endpoint_auth_methods_supported.includes('none'))
    assert.equal(m.dpop_nonce_required, true)
    assert.ok(m.supportsPKCE())
  })

  it('registration without scope gets the default interactive scopes', async () => {
    const config = await registerClient({ scope: undefined })
    assert.equal(config.clientMetadata().scope, 'openid profile email offline_access')
    assert.equal(config.clientMetadata().id_token_signed_response_alg, 'RS256')
  })

  it('code flow: RS256 id_token, then prompt=login and max_age=0 sign in again with a new auth_time', async () => {
    const config = await registerClient()
    const p = await person()
    const first = await codeFlow(config, p)
    const c1 = first.tokens.claims()
    assert.equal(c1.sub, p.id)
    assert.equal(jose.decodeProtectedHeader(first.tokens.id_token).alg, 'RS256')
    await new Promise((r) => setTimeout(r, 1100)) // a later second for the new auth_time
    const again = await codeFlow(config, p, { prompt: 'login' })
    assert.equal(again.signedIn, true, 'prompt=login goes through the login page')
    assert.ok(again.tokens.claims().auth_time > c1.auth_time)
    const zero = await codeFlow(config, p, { max_age: '0' }, { maxAge: 0 })
    assert.equal(zero.signedIn, true, 'max_age=0 goes through the login page')
    // within max_age, no new sign-in; openid-client checks auth_time itself
    const fresh = await codeFlow(config, p, { max_age: '3600' }, { maxAge: 3600 })
    assert.equal(fresh.signedIn, undefined)
  })

  it('prompt=none without a session: openid-client surfaces login_required', async () => {
    const config = await registerClient()
    const b = new Browser(shark.issuer)
    const state = client.randomState()
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid', state, prompt: 'none',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    })
    const r = await b.get(url.href)
    await assert.rejects(client.authorizationCodeGrant(config, new URL(r.location),
      { pkceCodeVerifier: 'x'.repeat(43), expectedState: state }),
    (e) => e.error === 'login_required')
  })

  it('form_post and fragment responses are taken by openid-client', async () => {
    const config = await registerClient()
    const p = await person()
    await codeFlow(config, p) // consent on record
    // form_post: the page's form, posted as the browser would
    const verifier = client.randomPKCECodeVerifier()
    const state = client.randomState()
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid email', state, response_mode: 'form_post',
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    })
    const page = await front(p, url)
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-security-policy'), /script-src 'nonce-/)
    const fields = {}
    for (const m of page.text.matchAll(/<input type=hidden name="([^"]+)" value="([^"]*)">/g)) fields[m[1]] = m[2]
    const req = new Request(REDIRECT, { method: 'POST', body: new URLSearchParams(fields) })
    const t = await client.authorizationCodeGrant(config, req, { pkceCodeVerifier: verifier, expectedState: state })
    assert.equal(t.claims().sub, p.id)
    // fragment
    const v2 = client.randomPKCECodeVerifier()
    const s2 = client.randomState()
    const r = await front(p, client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid', state: s2, response_mode: 'fragment',
      code_challenge: await client.calculatePKCECodeChallenge(v2), code_challenge_method: 'S256',
    }))
    const loc = new URL(r.location)
    assert.ok(loc.hash.startsWith('#code='), r.location)
    assert.equal(loc.search, '')
    // what a browser app does with a fragment response: hands its parameters over
    const handed = new URL(REDIRECT)
    handed.search = loc.hash.slice(1)
    const t2 = await client.authorizationCodeGrant(config, handed, { pkceCodeVerifier: v2, expectedState: s2 })
    assert.ok(t2.access_token)
  })

  it('PAR with DPoP binds the code; token, userinfo and refresh go through the nonce retry', async () => {
    const config = await registerClient()
    const p = await person()
    const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'))
    const verifier = client.randomPKCECodeVerifier()
    const state = client.randomState()
    const url = await client.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: REDIRECT, scope: 'openid email', state,
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }, { DPoP })
    assert.ok(url.searchParams.get('request_uri').startsWith('urn:ietf:params:oauth:request_uri:'))
    const r = await front(p, url)
    // another key cannot redeem it
    const other = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'))
    const codeUrl = new URL(r.location)
    await assert.rejects(client.authorizationCodeGrant(config, codeUrl, { pkceCodeVerifier: verifier, expectedState: state },
      undefined, { DPoP: other }), (e) => e.error === 'invalid_grant')
    // a fresh code, redeemed with the key that pushed the request
    const v2 = client.randomPKCECodeVerifier()
    const url2 = await client.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: REDIRECT, scope: 'openid email', state,
      code_challenge: await client.calculatePKCECodeChallenge(v2), code_challenge_method: 'S256',
    }, { DPoP })
    const r2 = await front(p, url2)
    const t = await client.authorizationCodeGrant(config, new URL(r2.location), { pkceCodeVerifier: v2, expectedState: state },
      undefined, { DPoP })
    assert.equal(t.token_type, 'dpop')
    const info = await client.fetchUserInfo(config, t.access_token, p.id, { DPoP })
    assert.equal(info.email, p.email)
    const refreshed = await client.refreshTokenGrant(config, t.refresh_token, undefined, { DPoP })
    assert.equal(refreshed.token_type, 'dpop')
    // item 12: a 400 carries its error in the body only, so openid-client
    // reports it as the error (not as a WWW-Authenticate challenge)
    await assert.rejects(client.refreshTokenGrant(config, refreshed.refresh_token, undefined, { DPoP: other }), (e) => {
      assert.equal(e.error, 'invalid_dpop_proof')
      assert.equal(e.status, 400)
      assert.ok(e.response)
      assert.equal(e.response.headers.get('www-authenticate'), null)
      return true
    })
  })

  it('JWT introspection (RFC 9701) verified by openid-client', async () => {
    const config = await registerClient({ introspection_signed_response_alg: 'ES256' })
    const p = await person()
    const { tokens } = await codeFlow(config, p)
    const ti = await client.tokenIntrospection(config, tokens.access_token)
    assert.equal(ti.active, true)
    assert.equal(ti.sub, p.id)
    const gone = await client.tokenIntrospection(config, 'not-a-token')
    assert.equal(gone.active, false)
  })

  it('private_key_jwt with openid-client (aud = issuer) and a signed request object (JAR)', async () => {
    const { publicKey, privateKey } = await jose.generateKeyPair('ES256', { extractable: true })
    const jwk = { ...(await jose.exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }
    const config = await registerClient({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } },
      client.PrivateKeyJwt({ key: privateKey, kid: 'k1' }))
    const p = await person()
    const verifier = client.randomPKCECodeVerifier()
    const state = client.randomState()
    const plain = {
      redirect_uri: REDIRECT, scope: 'openid email', state,
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }
    const url = await client.buildAuthorizationUrlWithJAR(config, plain, { key: privateKey, kid: 'k1' })
    assert.ok(url.searchParams.get('request'))
    const r = await front(p, url)
    const t = await client.authorizationCodeGrant(config, new URL(r.location), { pkceCodeVerifier: verifier, expectedState: state })
    assert.equal(t.claims().sub, p.id)
  })

  it('RP-initiated logout: buildEndSessionUrl, the confirmation, back with state', async () => {
    const config = await registerClient()
    const p = await person()
    const { tokens } = await codeFlow(config, p)
    const url = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: AFTER, state: 'bye' })
    assert.equal(url.origin + url.pathname, `${shark.issuer}/oauth/logout`)
    const page = await p.browser.get(url.href)
    assert.equal(page.status, 200, page.text)
    const form = {}
    for (const n of ['id_token_hint', 'client_id', 'post_logout_redirect_uri', 'state', 'csrf_token']) {
      const v = inputValue(page.text, n)
      if (v !== null) form[n] = v
    }
    const r = await p.browser.post('/oauth/logout/confirm', form)
    assert.equal(r.status, 303, r.text)
    assert.equal(r.location, `${AFTER}?state=bye`)
    const me = await p.browser.get('/api/v1/auth/me')
    assert.equal(me.status, 401)
  })
})
