// Interactive flows (authorization code + PKCE, OAuth 2.1): a person signs
// up, a browser (fetch + a cookie jar, no automatic redirects) goes through
// /oauth/authorize, the login page and the consent page, and oauth4webapi does
// the OAuth parts (RFC 9207 iss check, code exchange with id_token checks,
// refresh rotation, userinfo, PAR, DPoP). jose checks signatures against the
// server's JWKS. Also the negative cases and the /api/v1/auth/* account API.
import { describe, it, before } from 'node:test'
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import * as oauth from 'oauth4webapi'
import * as jose from 'jose'
import {
  useShark, discover, register, insecure, postForm, basic, TOKEN_EXCHANGE, AT_TYPE, Browser, inputValue,
} from './shark.mjs'

const REDIRECT = 'http://127.0.0.1:8976/cb'
const SCOPE = 'openid email profile docs:read'
const PASSWORD = 'correct horse battery'
const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:'

let seq = 0
const newEmail = (tag) => `${tag}-${process.pid}-${Date.now()}-${++seq}@example.com`

const atHash = (token) =>
  crypto.createHash('sha256').update(token).digest().subarray(0, 16).toString('base64url')

describe('interactive', () => {
  let as, jwks
  const shark = useShark([], async () => {
    as = await discover(shark)
    jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri))
  })

  const verifyAT = (token, audience = shark.issuer) =>
    jose.jwtVerify(token, jwks, { issuer: shark.issuer, audience, typ: 'at+jwt' })

  const introspectAdmin = async (token) => {
    const r = await postForm(as.introspection_endpoint, { token }, { authorization: `Bearer ${shark.adminKey}` })
    assert.equal(r.status, 200, r.text)
    return r.json
  }

  // ---- people and clients ----

  // Signs a person up through the API; the returned browser holds the
  // session cookie that signup set.
  async function signup(tag, name = 'Ada Lovelace') {
    const b = new Browser(shark.issuer)
    const email = newEmail(tag)
    const r = await b.request('/api/v1/auth/signup', { method: 'POST', json: { email, password: PASSWORD, name } })
    assert.equal(r.status, 201, r.text)
    assert.match(r.json.user.id, /^usr_/)
    assert.ok(r.json.csrf_token)
    assert.ok(b.jar.has('shark_session'), 'signup sets the session cookie')
    return { email, password: PASSWORD, name, id: r.json.user.id, csrf: r.json.csrf_token, browser: b }
  }

  const codeClient = (tag, extra = {}) => register(as, {
    client_name: `app ${tag}`,
    redirect_uris: [REDIRECT],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: SCOPE,
    ...extra,
  })

  const authFor = (client) =>
    client.token_endpoint_auth_method === 'none' ? oauth.None() : oauth.ClientSecretBasic(client.client_secret)

  // ---- the browser side ----

  // An authorization request URL; overrides with value undefined drop a parameter.
  async function authRequest(client, overrides = {}) {
    const verifier = oauth.generateRandomCodeVerifier()
    const state = oauth.generateRandomState()
    const nonce = oauth.generateRandomNonce()
    const params = {
      response_type: 'code',
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      scope: SCOPE,
      state,
      nonce,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...overrides,
    }
    const url = new URL(as.authorization_endpoint)
    for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v)
    return { url: url.href, verifier, state: params.state, nonce: params.nonce, scope: params.scope }
  }

  // From a 303 to /login: the login page, then the form POST; returns the
  // response of /oauth/authorize/resume (consent page or redirect).
  async function signIn(b, res, user) {
    assert.equal(res.status, 303, res.text)
    const loginUrl = new URL(res.location)
    assert.equal(loginUrl.origin + loginUrl.pathname, `${shark.issuer}/login`)
    const request = loginUrl.searchParams.get('request')
    assert.match(request, /^areq_/)
    const page = await b.get(loginUrl.href)
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-type'), /text\/html/)
    assert.equal(inputValue(page.text, 'request'), request)
    const login_csrf = inputValue(page.text, 'login_csrf')
    const posted = await b.post('/login', { request, login_csrf, email: user.email, password: user.password })
    assert.equal(posted.status, 303, posted.text)
    const resume = new URL(posted.location)
    assert.equal(resume.pathname, '/oauth/authorize/resume')
    assert.equal(resume.searchParams.get('request'), request)
    return b.get(resume.href)
  }

  async function decide(b, consent, decision = 'approve', csrf = undefined) {
    assert.equal(consent.status, 200, consent.text)
    const form = { request: inputValue(consent.text, 'request'), decision }
    const token = csrf === undefined ? inputValue(consent.text, 'csrf_token') : csrf
    if (token !== null) form.csrf_token = token
    return b.post('/oauth/authorize/decision', form)
  }

  // Runs the browser part to the redirect back to the client. Signs in if
  // the server asks, approves the consent page if shown.
  async function browse(b, user, url, { decision = 'approve' } = {}) {
    let res = await b.get(url)
    let signedIn = false, consent = null
    if (res.status === 303 && new URL(res.location).pathname === '/login') {
      res = await signIn(b, res, user)
      signedIn = true
    }
    if (res.status === 200) {
      consent = res
      res = await decide(b, res, decision)
    }
    assert.equal(res.status, 303, res.text)
    assert.ok(res.location.startsWith(`${REDIRECT}?`), res.location)
    return { callback: new URL(res.location), signedIn, consent }
  }

  // The whole front channel: returns the validated callback parameters.
  async function authorize(client, user, { b = user.browser, request = {}, ...opts } = {}) {
    const req = await authRequest(client, request)
    const out = await browse(b, user, req.url, opts)
    const params = oauth.validateAuthResponse(as, { client_id: client.client_id }, out.callback, req.state)
    return { ...req, ...out, params }
  }

  async function exchangeCode(client, a, options = {}) {
    const c = { client_id: client.client_id }
    const res = await oauth.authorizationCodeGrantRequest(as, c, authFor(client), a.params, REDIRECT, a.verifier,
      { ...insecure, ...options })
    return oauth.processAuthorizationCodeResponse(as, c, res,
      a.scope?.split(' ').includes('openid') ? { expectedNonce: a.nonce, requireIdToken: true } : {})
  }

  async function refresh(client, rt, options = {}) {
    const c = { client_id: client.client_id }
    const res = await oauth.refreshTokenGrantRequest(as, c, authFor(client), rt, { ...insecure, ...options })
    return oauth.processRefreshTokenResponse(as, c, res)
  }

  async function userinfo(client, at, sub, options = {}) {
    const c = { client_id: client.client_id }
    const res = await oauth.userInfoRequest(as, c, at, { ...insecure, ...options })
    return oauth.processUserInfoResponse(as, c, sub, res)
  }

  // A library call rejected with this OAuth error code (body or challenge).
  async function rejectsWith(promise, code, status = 400) {
    await assert.rejects(promise, (err) => {
      if (err instanceof oauth.ResponseBodyError) {
        assert.equal(err.error, code, `error code; body ${JSON.stringify(err.cause)}`)
        assert.equal(err.status, status)
        return true
      }
      if (err instanceof oauth.WWWAuthenticateChallengeError) {
        assert.equal(err.status, status)
        assert.ok(err.cause.some((ch) => ch.parameters.error === code), JSON.stringify(err.cause))
        return true
      }
      throw err
    })
  }

  // Awaits a library call that must succeed; an OAuth error becomes a
  // readable assertion failure (status, error, error_description).
  async function ok(promise, what) {
    try {
      return await promise
    } catch (err) {
      if (err instanceof oauth.ResponseBodyError) {
        assert.fail(`${what}: HTTP ${err.status} ${JSON.stringify(err.cause)}`)
      }
      if (err instanceof oauth.WWWAuthenticateChallengeError) {
        assert.fail(`${what}: HTTP ${err.status} ${JSON.stringify(err.cause)}`)
      }
      throw err
    }
  }

  // The redirect back carries an error, state and iss, and no code.
  function assertErrorRedirect(res, state, error) {
    assert.equal(res.status, 303, res.text)
    assert.ok(res.location?.startsWith(`${REDIRECT}?`), res.location)
    const cb = new URL(res.location)
    assert.equal(cb.searchParams.get('code'), null)
    assert.equal(cb.searchParams.get('iss'), shark.issuer)
    assert.throws(() => oauth.validateAuthResponse(as, { client_id: 'x' }, cb, state), (err) => {
      assert.ok(err instanceof oauth.AuthorizationResponseError, String(err))
      assert.equal(err.error, error, cb.href)
      return true
    })
  }

  function assertErrorPage(res, status, text) {
    assert.equal(res.status, status, res.text)
    assert.equal(res.location, null, 'no redirect')
    assert.match(res.headers.get('content-type'), /text\/html/)
    if (text) assert.match(res.text, text)
  }

  // ------------------------------------------------------------------

  it('discovery lists the interactive endpoints', () => {
    assert.equal(as.authorization_endpoint, `${shark.issuer}/oauth/authorize`)
    assert.equal(as.userinfo_endpoint, `${shark.issuer}/oauth/userinfo`)
    assert.equal(as.pushed_authorization_request_endpoint, `${shark.issuer}/oauth/par`)
    assert.equal(as.authorization_response_iss_parameter_supported, true)
    for (const g of ['authorization_code', 'refresh_token']) assert.ok(as.grant_types_supported.includes(g), g)
    assert.ok(as.response_types_supported.includes('code'))
    assert.deepEqual(as.code_challenge_methods_supported, ['S256'])
    assert.ok(as.token_endpoint_auth_methods_supported.includes('none'))
  })

  describe('1. code + PKCE, refresh, userinfo, token exchange, remembered consent', () => {
    let user, client, agent, a, tokens, idClaims, loginAt
    const b = new Browser('http://placeholder')

    before(async () => {
      user = await signup('full')
      client = await codeClient('full')
      agent = await register(as, {
        client_name: 'agent A',
        grant_types: ['client_credentials', TOKEN_EXCHANGE],
        scope: 'docs:read',
      })
      b.base = shark.issuer
    })

    it('authorize without a session → /login → sign in → consent page naming the client and scopes', async () => {
      const req = await authRequest(client)
      const first = await b.get(req.url)
      assert.equal(first.status, 303)
      assert.equal(new URL(first.location).pathname, '/login')
      loginAt = Math.floor(Date.now() / 1000)
      const consent = await signIn(b, first, user)
      assert.equal(consent.status, 200, consent.text)
      assert.ok(b.jar.has('shark_session'), 'login sets a session cookie')
      assert.match(consent.text, /app full/)
      for (const s of SCOPE.split(' ')) assert.ok(consent.text.includes(`<li>${s}</li>`), s)
      assert.ok(consent.text.includes(user.email))
      assert.match(inputValue(consent.text, 'request'), /^areq_/)
      assert.ok(inputValue(consent.text, 'csrf_token'))
      assert.equal(consent.headers.get('x-frame-options'), 'DENY')

      const back = await decide(b, consent, 'approve')
      assert.equal(back.status, 303, back.text)
      const cb = new URL(back.location)
      assert.equal(cb.origin + cb.pathname, REDIRECT)
      assert.equal(cb.searchParams.get('state'), req.state)
      assert.equal(cb.searchParams.get('iss'), shark.issuer)
      assert.ok(cb.searchParams.get('code'))
      // oauth4webapi checks iss (RFC 9207) and state.
      const params = oauth.validateAuthResponse(as, { client_id: client.client_id }, cb, req.state)
      a = { ...req, params }
      assert.throws(() => oauth.validateAuthResponse(as, { client_id: client.client_id }, cb, 'another-state'))
      const forged = new URL(cb)
      forged.searchParams.set('iss', 'https://evil.example')
      assert.throws(() => oauth.validateAuthResponse(as, { client_id: client.client_id }, forged, req.state))
    })

    it('code exchange: oauth4webapi validates the id_token (nonce, iss, aud); signature, at_hash, auth_time', async () => {
      tokens = await exchangeCode(client, a)
      assert.equal(tokens.token_type, 'bearer')
      assert.ok(tokens.expires_in > 0)
      assert.equal(tokens.scope, SCOPE)
      assert.match(tokens.refresh_token, /^rt_/)
      idClaims = oauth.getValidatedIdTokenClaims(tokens)
      assert.equal(idClaims.iss, shark.issuer)
      assert.equal(idClaims.sub, user.id)
      assert.equal(idClaims.aud, client.client_id)
      assert.equal(idClaims.nonce, a.nonce)
      assert.ok(Math.abs(idClaims.auth_time - loginAt) <= 5, `auth_time ${idClaims.auth_time} vs ${loginAt}`)
      const { payload, protectedHeader } = await jose.jwtVerify(tokens.id_token, jwks,
        { issuer: shark.issuer, audience: client.client_id })
      assert.ok(protectedHeader.kid)
      assert.equal(payload.at_hash, atHash(tokens.access_token))
    })

    it('access token verifies against the remote JWKS: sub is the user, client_id the app', async () => {
      const { payload } = await verifyAT(tokens.access_token)
      assert.equal(payload.sub, user.id)
      assert.equal(payload.client_id, client.client_id)
      assert.equal(payload.scope, SCOPE)
      assert.equal(payload.cnf, undefined)
      assert.equal(payload.act, undefined)
      const ir = await introspectAdmin(tokens.access_token)
      assert.equal(ir.active, true)
      assert.equal(ir.sub, user.id)
    })

    it('userinfo through oauth4webapi: sub, email, email_verified, name', async () => {
      const info = await userinfo(client, tokens.access_token, user.id)
      assert.equal(info.sub, user.id)
      assert.equal(info.email, user.email)
      assert.equal(info.email_verified, false)
      assert.equal(info.name, user.name)
      // the subject check in oauth4webapi is real
      await assert.rejects(userinfo(client, tokens.access_token, 'usr_someone_else'))
    })

    it('refresh rotates: new refresh token, the old one is then invalid_grant', async () => {
      const old = tokens.refresh_token
      const next = await refresh(client, old)
      assert.match(next.refresh_token, /^rt_/)
      assert.notEqual(next.refresh_token, old)
      assert.notEqual(next.access_token, tokens.access_token)
      const { payload } = await verifyAT(next.access_token)
      assert.equal(payload.sub, user.id)
      assert.equal(payload.scope, SCOPE)
      // The scope has openid, so the refresh answer carries a new id_token.
      assert.equal(typeof next.id_token, 'string', 'id_token in the refresh response')
      const idt = oauth.getValidatedIdTokenClaims(next)
      assert.ok(idt, 'oauth4webapi validated the refreshed id_token')
      // OIDC Core §12.2: same iss, sub, aud; auth_time of the original sign-in.
      assert.equal(idt.sub, user.id)
      assert.equal(idt.aud, client.client_id)
      assert.equal(idt.auth_time, idClaims.auth_time)
      const { payload: p } = await jose.jwtVerify(next.id_token, jwks, { issuer: shark.issuer, audience: client.client_id })
      assert.equal(p.at_hash, atHash(next.access_token))
      await rejectsWith(refresh(client, old), 'invalid_grant')
      tokens = { ...tokens, ...next }
    })

    it('the reuse of a rotated refresh token revoked the whole family', async () => {
      // tokens.refresh_token is the successor of the reused one.
      await rejectsWith(refresh(client, tokens.refresh_token), 'invalid_grant')
      // Start again for the next steps.
      const again = await authorize(client, user, { b })
      assert.equal(again.consent, null, 'consent remembered')
      tokens = await exchangeCode(client, again)
    })

    it('refresh narrowed to scope=openid: userinfo then shows only sub; a broader scope is invalid_scope', async () => {
      await rejectsWith(refresh(client, tokens.refresh_token, { additionalParameters: { scope: `${SCOPE} admin` } }),
        'invalid_scope')
      // get a fresh family (the refused request may have consumed the old token; tested separately below)
      const again = await authorize(client, user, { b })
      tokens = await exchangeCode(client, again)
      const narrow = await refresh(client, tokens.refresh_token, { additionalParameters: { scope: 'openid' } })
      assert.equal(narrow.scope, 'openid')
      const info = await userinfo(client, narrow.access_token, user.id)
      assert.deepEqual(Object.keys(info).sort(), ['sub'])
      tokens = { ...tokens, narrow }
    })

    it('the refresh token rotated by a narrowed refresh keeps the original scope (RFC 6749 §6)', async () => {
      // "If a new refresh token is issued, the refresh token scope MUST be
      // identical to that of the refresh token included by the client in the
      // request": narrowing one access token must not narrow the grant.
      const wider = await ok(refresh(client, tokens.narrow.refresh_token, { additionalParameters: { scope: 'openid email' } }),
        'refresh for openid email with the refresh token rotated by a refresh for scope=openid')
      assert.equal(wider.scope, 'openid email')
      const full = await refresh(client, wider.refresh_token)
      assert.equal(full.scope, SCOPE)
    })

    it('a token without openid is refused at userinfo (403 insufficient_scope)', async () => {
      const again = await authorize(client, user, { b, request: { scope: 'docs:read', nonce: undefined } })
      const t = await exchangeCode(client, again)
      assert.equal(t.id_token, undefined)
      const r = await fetch(as.userinfo_endpoint, { headers: { authorization: `Bearer ${t.access_token}` } })
      assert.equal(r.status, 403)
      assert.match(r.headers.get('www-authenticate'), /insufficient_scope/)
    })

    it('token exchange by agent A from the user-delegated token: sub = user, act.sub = A', async () => {
      const c = { client_id: agent.client_id }
      // The person's client hands a token to the agent by naming it as the audience.
      const handed = await exchangeCode(client, await authorize(client, user, { b }),
        { additionalParameters: { audience: agent.client_id } })
      assert.equal((await verifyAT(handed.access_token, agent.client_id)).payload.aud, agent.client_id)
      const foreign = await oauth.genericTokenEndpointRequest(as, c, oauth.ClientSecretBasic(agent.client_secret),
        TOKEN_EXCHANGE, { subject_token: tokens.access_token, subject_token_type: AT_TYPE, scope: 'docs:read' }, insecure)
      await rejectsWith(oauth.processGenericTokenEndpointResponse(as, c, foreign), 'invalid_grant')
      const res = await oauth.genericTokenEndpointRequest(as, c, oauth.ClientSecretBasic(agent.client_secret),
        TOKEN_EXCHANGE, { subject_token: handed.access_token, subject_token_type: AT_TYPE, scope: 'docs:read' }, insecure)
      const tr = await oauth.processGenericTokenEndpointResponse(as, c, res)
      assert.equal(tr.issued_token_type, AT_TYPE)
      assert.equal(tr.scope, 'docs:read')
      const { payload } = await verifyAT(tr.access_token)
      assert.equal(payload.sub, user.id)
      assert.equal(payload.client_id, agent.client_id)
      assert.equal(payload.act?.sub, agent.client_id)
      assert.equal(payload.act.act, undefined)
      assert.equal(payload.scope, 'docs:read')
      // The exchange cannot widen beyond the subject token's scope.
      const wide = await oauth.genericTokenEndpointRequest(as, c, oauth.ClientSecretBasic(agent.client_secret),
        TOKEN_EXCHANGE, { subject_token: handed.access_token, subject_token_type: AT_TYPE, scope: 'docs:write' }, insecure)
      await rejectsWith(oauth.processGenericTokenEndpointResponse(as, c, wide), 'invalid_scope')
    })

    it('a second authorize for the same (or fewer) scopes skips the consent page', async () => {
      const same = await authRequest(client)
      const r1 = await b.get(same.url)
      assert.equal(r1.status, 303, r1.text)
      assert.ok(r1.location.startsWith(`${REDIRECT}?`), `straight back to the client, got ${r1.location}`)
      const p1 = oauth.validateAuthResponse(as, { client_id: client.client_id }, new URL(r1.location), same.state)
      const t1 = await exchangeCode(client, { ...same, params: p1 })
      assert.equal((await verifyAT(t1.access_token)).payload.sub, user.id)

      const fewer = await authRequest(client, { scope: 'openid email' })
      const r2 = await b.get(fewer.url)
      assert.equal(r2.status, 303)
      assert.ok(r2.location.startsWith(`${REDIRECT}?`), r2.location)
    })

    it('state with reserved characters comes back intact; client name and scopes are escaped on the consent page', async () => {
      const evil = await codeClient('x', { client_name: '<img src=x onerror=alert(1)>"\'' })
      const person = await signup('escape')
      const state = 'a b&c=d/é?#%25+'
      const req = await authRequest(evil, { state })
      const consent = await person.browser.get(req.url)
      assert.equal(consent.status, 200, consent.text)
      assert.ok(!consent.text.includes('<img'), 'client_name is escaped')
      assert.ok(consent.text.includes('&lt;img'), 'client_name is shown')
      const back = await decide(person.browser, consent)
      const cb = new URL(back.location)
      assert.equal(cb.searchParams.get('state'), state)
      oauth.validateAuthResponse(as, { client_id: evil.client_id }, cb, state)
    })

    it('a scope beyond the remembered consent asks again', async () => {
      const other = await signup('consent-grow')
      const small = await authorize(client, other, { request: { scope: 'openid' } })
      assert.ok(small.consent, 'first time: consent page')
      const again = await authorize(client, other, { request: { scope: 'openid' } })
      assert.equal(again.consent, null, 'same scope: no consent page')
      const more = await authorize(client, other, { request: { scope: 'openid email' } })
      assert.ok(more.consent, 'a new scope: consent page again')
      assert.ok(more.consent.text.includes('<li>email</li>'))
    })
  })

  describe('2. DPoP-bound code flow (RFC 9449)', () => {
    let user, client
    before(async () => {
      user = await signup('dpop')
      client = await codeClient('dpop')
    })

    async function boundSession() {
      const keyPair = await oauth.generateKeyPair('ES256', { extractable: true })
      const DPoP = oauth.DPoP({ client_id: client.client_id }, keyPair)
      const a = await authorize(client, user)
      const tokens = await exchangeCode(client, a, { DPoP })
      const jkt = await jose.calculateJwkThumbprint(await jose.exportJWK(keyPair.publicKey), 'sha256')
      return { keyPair, DPoP, tokens, jkt }
    }

    it('code exchange with a DPoP proof: token_type DPoP, cnf.jkt; userinfo with the DPoP scheme and a proof', async () => {
      const { DPoP, tokens, jkt } = await boundSession()
      assert.equal(tokens.token_type, 'dpop')
      const { payload } = await verifyAT(tokens.access_token)
      assert.equal(payload.cnf?.jkt, jkt)
      assert.equal(payload.sub, user.id)
      const ir = await introspectAdmin(tokens.access_token)
      assert.equal(ir.active, true)
      assert.equal(ir.cnf?.jkt, jkt)
      // the id_token is not bound (no cnf), but still carries at_hash of the bound token
      const { payload: idt } = await jose.jwtVerify(tokens.id_token, jwks, { issuer: shark.issuer, audience: client.client_id })
      assert.equal(idt.at_hash, atHash(tokens.access_token))

      const info = await userinfo(client, tokens.access_token, user.id, { DPoP })
      assert.equal(info.email, user.email)
      // the Bearer scheme is refused for a bound token
      const bearer = await fetch(as.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } })
      assert.equal(bearer.status, 401)
      // DPoP scheme without a proof
      const noProof = await fetch(as.userinfo_endpoint, { headers: { authorization: `DPoP ${tokens.access_token}` } })
      assert.equal(noProof.status, 401)
      assert.match(noProof.headers.get('www-authenticate') ?? '', /DPoP/)
      // a proof by another key (ath right, jkt wrong)
      const other = await oauth.generateKeyPair('ES256', { extractable: true })
      await assert.rejects(userinfo(client, tokens.access_token, user.id,
        { DPoP: oauth.DPoP({ client_id: client.client_id }, other) }), (e) => {
        assert.equal(e.status, 401, String(e))
        return true
      })
    })

    it('refresh with a proof by the same key: rotated, still bound to the same jkt', async () => {
      const { DPoP, tokens, jkt } = await boundSession()
      const next = await refresh(client, tokens.refresh_token, { DPoP })
      assert.equal(next.token_type, 'dpop')
      assert.notEqual(next.refresh_token, tokens.refresh_token)
      const { payload } = await verifyAT(next.access_token)
      assert.equal(payload.cnf?.jkt, jkt)
      const again = await refresh(client, next.refresh_token, { DPoP })
      assert.equal((await verifyAT(again.access_token)).payload.cnf?.jkt, jkt)
      const info = await userinfo(client, again.access_token, user.id, { DPoP })
      assert.equal(info.sub, user.id)
    })

    it('refresh of a bound refresh token with a proof by another key → invalid_dpop_proof', async () => {
      const { tokens } = await boundSession()
      const other = await oauth.generateKeyPair('ES256', { extractable: true })
      await rejectsWith(refresh(client, tokens.refresh_token, { DPoP: oauth.DPoP({ client_id: client.client_id }, other) }),
        'invalid_dpop_proof')
    })

    it('refresh of a bound refresh token without any proof → invalid_dpop_proof', async () => {
      const { tokens } = await boundSession()
      await rejectsWith(refresh(client, tokens.refresh_token), 'invalid_dpop_proof')
    })

    it('a refused refresh by another key does not burn the holder\'s refresh token', async () => {
      // An attacker with a stolen bound refresh token but not the key is refused;
      // the legitimate holder must still be able to refresh with its key.
      const { DPoP, tokens } = await boundSession()
      const other = await oauth.generateKeyPair('ES256', { extractable: true })
      await rejectsWith(refresh(client, tokens.refresh_token, { DPoP: oauth.DPoP({ client_id: client.client_id }, other) }),
        'invalid_dpop_proof')
      const next = await ok(refresh(client, tokens.refresh_token, { DPoP }),
        'the holder refreshing with its own key after a refused attempt by another key')
      assert.match(next.refresh_token, /^rt_/)
    })
  })

  describe('3. pushed authorization requests (RFC 9126)', () => {
    let user, client, other
    before(async () => {
      user = await signup('par')
      client = await codeClient('par')
      other = await codeClient('par-other')
    })

    async function push(c, params, auth = authFor(c)) {
      const res = await oauth.pushedAuthorizationRequest(as, { client_id: c.client_id }, auth, params, insecure)
      return oauth.processPushedAuthorizationResponse(as, { client_id: c.client_id }, res)
    }

    async function pushParams(overrides = {}) {
      const verifier = oauth.generateRandomCodeVerifier()
      const params = {
        response_type: 'code', redirect_uri: REDIRECT, scope: SCOPE, state: oauth.generateRandomState(),
        nonce: oauth.generateRandomNonce(), code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256', ...overrides,
      }
      for (const k of Object.keys(params)) if (params[k] === undefined) delete params[k]
      return { params, verifier }
    }

    it('PAR → request_uri → authorize with client_id + request_uri → consent → code → tokens', async () => {
      const { params, verifier } = await pushParams()
      const par = await push(client, params)
      assert.ok(par.request_uri.startsWith(REQUEST_URI_PREFIX), par.request_uri)
      assert.ok(par.expires_in > 0 && par.expires_in <= 600, String(par.expires_in))
      const url = new URL(as.authorization_endpoint)
      url.searchParams.set('client_id', client.client_id)
      url.searchParams.set('request_uri', par.request_uri)
      const out = await browse(user.browser, user, url.href)
      assert.ok(out.consent, 'consent page')
      for (const s of SCOPE.split(' ')) assert.ok(out.consent.text.includes(`<li>${s}</li>`), s)
      const cbParams = oauth.validateAuthResponse(as, { client_id: client.client_id }, out.callback, params.state)
      const tokens = await exchangeCode(client, { params: cbParams, verifier, nonce: params.nonce, scope: SCOPE })
      assert.equal(oauth.getValidatedIdTokenClaims(tokens).sub, user.id)
      assert.equal((await verifyAT(tokens.access_token)).payload.client_id, client.client_id)

      // a request_uri is single use
      const again = await user.browser.get(url.href)
      assertErrorPage(again, 400)
    })

    it('PAR with a signed-out browser: /login?request=… → sign in → consent → code', async () => {
      const { params, verifier } = await pushParams({ scope: 'openid' })
      const par = await push(other, params)
      const url = new URL(as.authorization_endpoint)
      url.searchParams.set('client_id', other.client_id)
      url.searchParams.set('request_uri', par.request_uri)
      const fresh = new Browser(shark.issuer)
      const out = await browse(fresh, user, url.href)
      assert.ok(out.signedIn, 'went through /login')
      assert.ok(out.consent, 'consent page')
      const cbParams = oauth.validateAuthResponse(as, { client_id: other.client_id }, out.callback, params.state)
      const tokens = await exchangeCode(other, { params: cbParams, verifier, nonce: params.nonce, scope: 'openid' })
      assert.equal(oauth.getValidatedIdTokenClaims(tokens).sub, user.id)
      assert.equal(tokens.scope, 'openid')
    })

    it('a request_uri only works with the client that pushed it', async () => {
      const { params } = await pushParams()
      const par = await push(client, params)
      const url = new URL(as.authorization_endpoint)
      url.searchParams.set('client_id', other.client_id)
      url.searchParams.set('request_uri', par.request_uri)
      assertErrorPage(await user.browser.get(url.href), 400)
      const noClient = new URL(as.authorization_endpoint)
      noClient.searchParams.set('request_uri', par.request_uri)
      assertErrorPage(await user.browser.get(noClient.href), 400)
      const forged = new URL(as.authorization_endpoint)
      forged.searchParams.set('client_id', client.client_id)
      forged.searchParams.set('request_uri', `${REQUEST_URI_PREFIX}areq_doesnotexist`)
      assertErrorPage(await user.browser.get(forged.href), 400)
    })

    it('PAR needs client authentication', async () => {
      const { params } = await pushParams()
      const r = await postForm(as.pushed_authorization_request_endpoint, { client_id: client.client_id, ...params })
      assert.equal(r.status, 401, r.text)
      assert.equal(r.json?.error, 'invalid_client')
      const wrong = await postForm(as.pushed_authorization_request_endpoint, params,
        { authorization: basic(client.client_id, 'not-the-secret') })
      assert.equal(wrong.status, 401, wrong.text)
    })

    it('PAR errors come back as JSON: unregistered redirect_uri, plain PKCE, missing PKCE, request_uri inside', async () => {
      const cases = {
        'unregistered redirect_uri': [{ redirect_uri: 'http://127.0.0.1:8976/other' }, 'invalid_request'],
        'plain PKCE': [{ code_challenge_method: 'plain' }, 'invalid_request'],
        'no PKCE': [{ code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request'],
        'request_uri inside': [{ request_uri: `${REQUEST_URI_PREFIX}x` }, 'invalid_request'],
        'scope beyond the client': [{ scope: 'openid admin:all' }, 'invalid_scope'],
        'response_type token': [{ response_type: 'token' }, 'unsupported_response_type'],
      }
      for (const [name, [overrides, code]] of Object.entries(cases)) {
        const { params } = await pushParams(overrides)
        await assert.rejects(push(client, params), (err) => {
          assert.ok(err instanceof oauth.ResponseBodyError, `${name}: ${err}`)
          assert.equal(err.status, 400, name)
          assert.equal(err.error, code, name)
          return true
        }, name)
      }
    })
  })

  describe('4. public client (token_endpoint_auth_method none) with PKCE', () => {
    let user, client
    before(async () => {
      user = await signup('public')
      client = await codeClient('public', { token_endpoint_auth_method: 'none' })
    })

    it('registration gives no secret; a public client may not have client_credentials', async () => {
      assert.equal(client.client_secret, undefined)
      assert.equal(client.token_endpoint_auth_method, 'none')
      await assert.rejects(register(as, {
        client_name: 'public cc', token_endpoint_auth_method: 'none', grant_types: ['client_credentials'],
      }), (err) => {
        assert.equal(err.status, 400, String(err))
        return true
      })
    })

    it('code + PKCE with client_id only; refresh rotates with client_id only', async () => {
      const a = await authorize(client, user)
      const tokens = await exchangeCode(client, a)
      assert.equal(oauth.getValidatedIdTokenClaims(tokens).aud, client.client_id)
      const { payload } = await verifyAT(tokens.access_token)
      assert.equal(payload.client_id, client.client_id)
      assert.equal(payload.sub, user.id)
      const next = await refresh(client, tokens.refresh_token)
      assert.notEqual(next.refresh_token, tokens.refresh_token)
      await rejectsWith(refresh(client, tokens.refresh_token), 'invalid_grant')
    })

    it('a public client\'s code without code_verifier, or with the wrong one, is refused', async () => {
      const a = await authorize(client, user)
      const none = await postForm(as.token_endpoint, {
        grant_type: 'authorization_code', code: a.params.get('code'), redirect_uri: REDIRECT, client_id: client.client_id,
      })
      assert.equal(none.status, 400, none.text)
      // RFC 7636 §4.6: a code with a challenge and no verifier fails verification
      assert.equal(none.json?.error, 'invalid_grant', none.text)
      const b = await authorize(client, user)
      const wrong = await postForm(as.token_endpoint, {
        grant_type: 'authorization_code', code: b.params.get('code'), redirect_uri: REDIRECT, client_id: client.client_id,
        code_verifier: oauth.generateRandomCodeVerifier(),
      })
      assert.equal(wrong.status, 400, wrong.text)
      assert.equal(wrong.json?.error, 'invalid_grant')
    })
  })

  describe('6. revocation (RFC 7009), resource indicators (RFC 8707), redirect URIs with a query', () => {
    let user, client
    before(async () => {
      user = await signup('revoke')
      client = await codeClient('revoke', {
        redirect_uris: [REDIRECT, `${REDIRECT}?tenant=a%20b`], resources: ['https://docs.example.com/api'],
      })
    })

    async function revoke(token, hint) {
      const c = { client_id: client.client_id }
      const res = await oauth.revocationRequest(as, c, authFor(client), token,
        { ...insecure, ...(hint ? { additionalParameters: { token_type_hint: hint } } : {}) })
      return oauth.processRevocationResponse(res)
    }

    it('revoking the access token: userinfo 401, introspection inactive, token exchange refused', async () => {
      const t = await exchangeCode(client, await authorize(client, user))
      await revoke(t.access_token)
      assert.deepEqual(await introspectAdmin(t.access_token), { active: false })
      const r = await fetch(as.userinfo_endpoint, { headers: { authorization: `Bearer ${t.access_token}` } })
      assert.equal(r.status, 401)
    })

    for (const hint of [undefined, 'refresh_token']) {
      it(`revoking the refresh token${hint ? ' (token_type_hint refresh_token)' : ''}: it can no longer be used`, async () => {
        // RFC 7009 §2: "Implementations MUST support the revocation of refresh tokens".
        const t = await exchangeCode(client, await authorize(client, user))
        await revoke(t.refresh_token, hint)
        const after = await refresh(client, t.refresh_token).then(() => 'refreshed', (e) => e?.error ?? String(e))
        assert.equal(after, 'invalid_grant', 'a revoked refresh token still refreshes')
      })
    }

    it('resource in the authorization request sets aud of the access token, kept across refresh', async () => {
      const resource = 'https://docs.example.com/api'
      const a = await authorize(client, user, { request: { resource } })
      const t = await exchangeCode(client, a)
      const { payload } = await verifyAT(t.access_token, resource)
      assert.equal(payload.aud, resource)
      const next = await refresh(client, t.refresh_token)
      assert.equal((await verifyAT(next.access_token, resource)).payload.aud, resource)
      // and a resource that is not an absolute URI is refused at authorize
      const bad = await authRequest(client, { resource: 'docs' })
      assertErrorRedirect(await user.browser.get(bad.url), bad.state, 'invalid_target')
    })

    it('a registered redirect URI with a query keeps it and appends code, state, iss', async () => {
      const uri = `${REDIRECT}?tenant=a%20b`
      const req = await authRequest(client, { redirect_uri: uri })
      const res = await user.browser.get(req.url)
      assert.equal(res.status, 303, res.text)
      const cb = new URL(res.location)
      assert.equal(cb.searchParams.get('tenant'), 'a b')
      assert.equal(cb.searchParams.get('state'), req.state)
      const params = oauth.validateAuthResponse(as, { client_id: client.client_id }, cb, req.state)
      const c = { client_id: client.client_id }
      const tr = await oauth.processAuthorizationCodeResponse(as, c,
        await oauth.authorizationCodeGrantRequest(as, c, authFor(client), params, uri, req.verifier, insecure),
        { expectedNonce: req.nonce })
      assert.equal((await verifyAT(tr.access_token)).payload.sub, user.id)
      // a prefix of it, or other query, is not registered
      for (const u of [`${REDIRECT}?tenant=other`, `${REDIRECT}?tenant=a%20b&x=1`]) {
        const r = await user.browser.get((await authRequest(client, { redirect_uri: u })).url)
        assertErrorPage(r, 400)
      }
    })
  })

  describe('5. negatives', () => {
    let user, client, other
    before(async () => {
      user = await signup('neg')
      client = await codeClient('neg')
      other = await codeClient('neg-other')
      // consent once so later authorizations come straight back
      await authorize(client, user)
    })

    async function redirectFor(overrides) {
      const req = await authRequest(client, overrides)
      return { res: await user.browser.get(req.url), req }
    }

    it('missing PKCE → redirect with error=invalid_request (state and iss kept)', async () => {
      const { res, req } = await redirectFor({ code_challenge: undefined, code_challenge_method: undefined })
      assertErrorRedirect(res, req.state, 'invalid_request')
      const { res: r2, req: q2 } = await redirectFor({ code_challenge_method: undefined })
      assertErrorRedirect(r2, q2.state, 'invalid_request')
    })

    it('code_challenge_method=plain → invalid_request', async () => {
      const verifier = oauth.generateRandomCodeVerifier()
      const { res, req } = await redirectFor({ code_challenge: verifier, code_challenge_method: 'plain' })
      assertErrorRedirect(res, req.state, 'invalid_request')
    })

    it('response_type=token → unsupported_response_type; a scope beyond the client → invalid_scope', async () => {
      const { res, req } = await redirectFor({ response_type: 'token' })
      assertErrorRedirect(res, req.state, 'unsupported_response_type')
      const { res: r2, req: q2 } = await redirectFor({ scope: 'openid admin:all' })
      assertErrorRedirect(r2, q2.state, 'invalid_scope')
    })

    it('unregistered redirect_uri or unknown client → 400 error page, never a redirect', async () => {
      const { res } = await redirectFor({ redirect_uri: 'http://127.0.0.1:8976/cb/evil' })
      assertErrorPage(res, 400, /redirect URI/i)
      const { res: r2 } = await redirectFor({ redirect_uri: 'https://attacker.example/cb' })
      assertErrorPage(r2, 400)
      const { res: r3 } = await redirectFor({ client_id: 'cli_doesnotexist' })
      assertErrorPage(r3, 400)
      // an unregistered redirect_uri with another error still gets the page
      const { res: r4 } = await redirectFor({ redirect_uri: 'https://attacker.example/cb', code_challenge: undefined })
      assertErrorPage(r4, 400)
    })

    it('wrong code_verifier → invalid_grant', async () => {
      const a = await authorize(client, user)
      await rejectsWith(exchangeCode(client, { ...a, verifier: oauth.generateRandomCodeVerifier() }), 'invalid_grant')
    })

    it('redirect_uri at the token endpoint must match the authorization request → invalid_grant', async () => {
      const a = await authorize(client, user)
      const r = await postForm(as.token_endpoint, {
        grant_type: 'authorization_code', code: a.params.get('code'), redirect_uri: 'http://127.0.0.1:8976/other',
        code_verifier: a.verifier,
      }, { authorization: basic(client.client_id, client.client_secret) })
      assert.equal(r.status, 400, r.text)
      assert.equal(r.json.error, 'invalid_grant')
    })

    it('a code is redeemable only by the client it was issued to', async () => {
      const a = await authorize(client, user)
      const r = await postForm(as.token_endpoint, {
        grant_type: 'authorization_code', code: a.params.get('code'), redirect_uri: REDIRECT, code_verifier: a.verifier,
      }, { authorization: basic(other.client_id, other.client_secret) })
      assert.equal(r.status, 400, r.text)
      assert.equal(r.json.error, 'invalid_grant')
    })

    it('a reused code → invalid_grant, and the first access token and refresh token are revoked', async () => {
      const a = await authorize(client, user)
      const first = await exchangeCode(client, a)
      assert.equal((await introspectAdmin(first.access_token)).active, true)
      await rejectsWith(exchangeCode(client, a), 'invalid_grant')
      assert.deepEqual(await introspectAdmin(first.access_token), { active: false })
      const r = await fetch(as.userinfo_endpoint, { headers: { authorization: `Bearer ${first.access_token}` } })
      assert.equal(r.status, 401)
      await rejectsWith(refresh(client, first.refresh_token), 'invalid_grant')
    })

    it('a code replayed concurrently with its first redemption still revokes what it produced', async () => {
      // RFC 6749 §4.1.2 / OAuth 2.1 §4.1.3: a code used twice is refused and
      // the tokens issued from it revoked, whatever the timing.
      for (let i = 0; i < 5; i++) {
        const a = await authorize(client, user)
        const body = {
          grant_type: 'authorization_code', code: a.params.get('code'), redirect_uri: REDIRECT, code_verifier: a.verifier,
        }
        const hdr = { authorization: basic(client.client_id, client.client_secret) }
        const rs = await Promise.all([postForm(as.token_endpoint, body, hdr), postForm(as.token_endpoint, body, hdr)])
        // The replay is always refused; the first redemption may be refused
        // too when the replay lands while it is being issued (tokens revoked).
        const ok = rs.filter((r) => r.status === 200)
        assert.ok(ok.length <= 1, rs.map((r) => r.text).join('\n'))
        for (const bad of rs.filter((r) => r.status !== 200))
          assert.equal(bad.json.error, 'invalid_grant')
        if (ok.length === 1) {
          const ir = await introspectAdmin(ok[0].json.access_token)
          assert.equal(ir.active, false, `round ${i}: the access token from a code used twice is still active`)
          await rejectsWith(refresh(client, ok[0].json.refresh_token), 'invalid_grant')
        }
      }
    })

    it('a decision without, or with a wrong, csrf_token → 403 page, no code; then the real one works', async () => {
      const fresh = await codeClient('csrf')
      const b = new Browser(shark.issuer)
      const req = await authRequest(fresh)
      const consent = await signIn(b, await b.get(req.url), user)
      assert.equal(consent.status, 200, 'consent page')
      for (const csrf of [null, 'wrong-token', '']) {
        const r = await decide(b, consent, 'approve', csrf)
        assertErrorPage(r, 403)
      }
      const ok = await decide(b, consent, 'approve')
      assert.equal(ok.status, 303)
      assert.ok(new URL(ok.location).searchParams.get('code'))
    })

    it('another session\'s csrf_token is refused', async () => {
      const mallory = await signup('mallory')
      const b = new Browser(shark.issuer)
      const req = await authRequest(await codeClient('csrf-mallory'))
      const consent = await signIn(b, await b.get(req.url), user)
      const r = await decide(b, consent, 'approve', mallory.csrf)
      assertErrorPage(r, 403)
    })

    it('deny → redirect with error=access_denied, state and iss', async () => {
      const b = new Browser(shark.issuer)
      const req = await authRequest(other, { scope: 'openid docs:read' })
      const third = await signup('deny')
      const consent = await signIn(b, await b.get(req.url), third)
      const res = await decide(b, consent, 'deny')
      assertErrorRedirect(res, req.state, 'access_denied')
      // and the request is spent: approving it afterwards gives no code
      const late = await decide(b, consent, 'approve')
      assertErrorPage(late, 400, /already used or has expired/)
      // a denial is not remembered as consent: the next request asks again
      const next = await authRequest(other, { scope: 'openid docs:read' })
      const page = await b.get(next.url)
      assert.equal(page.status, 200, 'consent page again')
    })

    it('login with a wrong password → 401 page with the form; unknown email answers the same', async () => {
      const b = new Browser(shark.issuer)
      const req = await authRequest(client)
      const first = await b.get(req.url)
      const request = new URL(first.location).searchParams.get('request')
      const login_csrf = inputValue((await b.get(first.location)).text, 'login_csrf')
      const wrong = await b.post('/login', { request, login_csrf, email: user.email, password: 'not the password!' })
      assertErrorPage(wrong, 401, /Wrong email or password/)
      assert.equal(inputValue(wrong.text, 'request'), request, 'form kept with the request')
      assert.equal(b.jar.has('shark_session'), false)
      const unknown = await b.post('/login', { request, login_csrf, email: newEmail('nobody'), password: 'not the password!' })
      assertErrorPage(unknown, 401, /Wrong email or password/)
      const api = await b.request('/api/v1/auth/login', { method: 'POST', json: { email: newEmail('nobody'), password: 'whatever12345' } })
      assert.equal(api.status, 401)
      assert.equal(api.json?.error?.code, 'invalid_credentials')
    })

    it('a sign-in form post without the login CSRF token is refused (403) and signs nobody in', async () => {
      const b = new Browser(shark.issuer)
      const r = await b.post('/login', { email: user.email, password: user.password })
      assertErrorPage(r, 403, /expired/)
      assert.equal(b.jar.has('shark_session'), false)
      const forged = await b.post('/login', { login_csrf: 'guessed', email: user.email, password: user.password })
      assertErrorPage(forged, 403, /expired/)
      assert.equal(b.jar.has('shark_session'), false)
    })

    it('5 failures in a row lock the account: then even the right password is refused (page 401, API 423)', async () => {
      const victim = await signup('locked')
      const b = new Browser(shark.issuer)
      const login_csrf = inputValue((await b.get('/login')).text, 'login_csrf')
      for (let i = 0; i < 5; i++) {
        const r = await b.post('/login', { login_csrf, email: victim.email, password: `wrong password ${i}` })
        assert.equal(r.status, 401, r.text)
      }
      const right = await b.post('/login', { login_csrf, email: victim.email, password: victim.password })
      assertErrorPage(right, 401, /locked/i)
      assert.equal(b.jar.has('shark_session'), false)
      const api = await b.request('/api/v1/auth/login', { method: 'POST', json: { email: victim.email, password: victim.password } })
      assert.equal(api.status, 423, api.text)
      assert.equal(api.json?.error?.code, 'account_locked')
      // failures below the limit do not lock: 4 wrong then right works
      const fine = await signup('not-locked')
      for (let i = 0; i < 4; i++) {
        await b.request('/api/v1/auth/login', { method: 'POST', json: { email: fine.email, password: `wrong password ${i}` } })
      }
      const ok = await b.request('/api/v1/auth/login', { method: 'POST', json: { email: fine.email, password: fine.password } })
      assert.equal(ok.status, 200, ok.text)
      assert.equal(ok.json.user.id, fine.id)
    })

    it('API: login, me, sessions; logout needs X-CSRF-Token (403 without), 204 with, then me → 401', async () => {
      const b = new Browser(shark.issuer)
      const login = await b.request('/api/v1/auth/login', { method: 'POST', json: { email: user.email, password: user.password } })
      assert.equal(login.status, 200, login.text)
      assert.equal(login.json.user.id, user.id)
      assert.match(login.json.session.id, /\S/)
      const me = await b.get('/api/v1/auth/me')
      assert.equal(me.status, 200)
      assert.equal(me.json.id, user.id)
      assert.equal(me.json.email, user.email)
      const list = await b.get('/api/v1/auth/sessions')
      assert.equal(list.status, 200)
      assert.ok(list.json.data.some((s) => s.id === login.json.session.id), list.text)

      const noCsrf = await b.request('/api/v1/auth/logout', { method: 'POST' })
      assert.equal(noCsrf.status, 403, noCsrf.text)
      const wrongCsrf = await b.request('/api/v1/auth/logout', { method: 'POST', headers: { 'x-csrf-token': user.csrf } })
      assert.equal(wrongCsrf.status, 403, 'another session\'s CSRF token')
      assert.equal((await b.get('/api/v1/auth/me')).status, 200, 'still signed in')
      const out = await b.request('/api/v1/auth/logout', { method: 'POST', headers: { 'x-csrf-token': login.json.csrf_token } })
      assert.equal(out.status, 204, out.text)
      assert.equal((await b.get('/api/v1/auth/me')).status, 401)
    })

    it('API: ending another session by id (X-CSRF-Token) signs that browser out', async () => {
      const b1 = new Browser(shark.issuer), b2 = new Browser(shark.issuer)
      const l1 = await b1.request('/api/v1/auth/login', { method: 'POST', json: { email: user.email, password: user.password } })
      const l2 = await b2.request('/api/v1/auth/login', { method: 'POST', json: { email: user.email, password: user.password } })
      assert.equal(l1.status, 200)
      assert.equal(l2.status, 200)
      const path = `/api/v1/auth/sessions/${l2.json.session.id}`
      assert.equal((await b1.request(path, { method: 'DELETE' })).status, 403)
      const del = await b1.request(path, { method: 'DELETE', headers: { 'x-csrf-token': l1.json.csrf_token } })
      assert.equal(del.status, 204, del.text)
      assert.equal((await b2.get('/api/v1/auth/me')).status, 401)
      assert.equal((await b1.get('/api/v1/auth/me')).status, 200)
      // someone else's session id is not found for me
      const stranger = await signup('stranger')
      const mine = (await b1.get('/api/v1/auth/sessions')).json.data[0].id
      const foreign = await stranger.browser.request(`/api/v1/auth/sessions/${mine}`,
        { method: 'DELETE', headers: { 'x-csrf-token': stranger.csrf } })
      assert.equal(foreign.status, 404, foreign.text)
      assert.equal((await b1.get('/api/v1/auth/me')).status, 200)
      // the ended session cannot approve a consent either
      const req = await authRequest(other)
      const res = await b2.get(req.url)
      assert.equal(res.status, 303)
      assert.equal(new URL(res.location).pathname, '/login')
    })

    it('a refused refresh (scope too broad) does not consume the refresh token', async () => {
      // RFC 6749 §5.2 error responses issue nothing; with rotation, spending the
      // refresh token on a refused request strands the client.
      const a = await authorize(client, user)
      const t = await exchangeCode(client, a)
      await rejectsWith(refresh(client, t.refresh_token, { additionalParameters: { scope: 'openid admin:all' } }),
        'invalid_scope')
      const next = await ok(refresh(client, t.refresh_token), 'the same refresh token after a refused invalid_scope request')
      assert.match(next.refresh_token, /^rt_/)
    })
  })
})
