// The device authorization grant (RFC 8628): oauth4webapi starts the flow and
// polls; a second party (a browser: fetch + a cookie jar) signs in at /device,
// enters the user code and approves or denies. Expiry runs against a second
// server started with --device-code-ttl 2.
import { describe, it, before } from 'node:test'
import assert from 'node:assert/strict'
import * as oauth from 'oauth4webapi'
import * as jose from 'jose'
import { useShark, discover, register, insecure, postForm, basic, Browser, inputValue } from './shark.mjs'

const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code'
const SCOPE = 'openid email docs:read'
const PASSWORD = 'correct horse battery'
const USER_CODE = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/

let seq = 0
const newEmail = (tag) => `${tag}-${process.pid}-${Date.now()}-${++seq}@example.com`
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// Everything a test needs against one server.
function kit(getShark, getAs) {
  const authFor = (c) => (c.token_endpoint_auth_method === 'none' ? oauth.None() : oauth.ClientSecretBasic(c.client_secret))

  async function deviceClient(tag, extra = {}) {
    return register(getAs(), {
      client_name: `device ${tag}`,
      grant_types: [DEVICE, 'refresh_token'],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: SCOPE,
      ...extra,
    })
  }

  async function start(client, params = { scope: SCOPE }) {
    const c = { client_id: client.client_id }
    const res = await oauth.deviceAuthorizationRequest(getAs(), c, authFor(client), params, insecure)
    return oauth.processDeviceAuthorizationResponse(getAs(), c, res)
  }

  async function poll(client, deviceCode) {
    const c = { client_id: client.client_id }
    const res = await oauth.deviceCodeGrantRequest(getAs(), c, authFor(client), deviceCode, insecure)
    return oauth.processDeviceCodeResponse(getAs(), c, res)
  }

  // The OAuth error code a poll answered with (or 'tokens').
  async function pollResult(client, deviceCode) {
    try {
      await poll(client, deviceCode)
      return 'tokens'
    } catch (err) {
      if (err instanceof oauth.ResponseBodyError) {
        assert.equal(err.status, 400, JSON.stringify(err.cause))
        return err.error
      }
      throw err
    }
  }

  async function person(tag) {
    const b = new Browser(getShark().issuer)
    const email = newEmail(tag)
    const r = await b.request('/api/v1/auth/signup', { method: 'POST', json: { email, password: PASSWORD, name: `Dev ${tag}` } })
    assert.equal(r.status, 201, r.text)
    return { email, password: PASSWORD, id: r.json.user.id, browser: b }
  }

  // Entry page → code → confirmation page (answers of each step returned).
  async function enter(b, userCode) {
    const entry = await b.get('/device')
    assert.equal(entry.status, 200, entry.text)
    const csrf = inputValue(entry.text, 'csrf_token')
    assert.ok(csrf, 'entry page has a csrf_token')
    return b.post('/device', { csrf_token: csrf, user_code: userCode })
  }

  async function decideDevice(b, confirm, decision) {
    assert.equal(confirm.status, 200, confirm.text)
    return b.post('/device/decision', {
      csrf_token: inputValue(confirm.text, 'csrf_token'),
      user_code: inputValue(confirm.text, 'user_code'),
      decision,
    })
  }

  return { deviceClient, start, poll, pollResult, person, enter, decideDevice, authFor }
}

describe('device', () => {
  let as, jwks
  const shark = useShark([], async () => {
    as = await discover(shark)
    jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri))
  })
  const k = kit(() => shark, () => as)

  it('discovery: device_authorization_endpoint and the device_code grant', () => {
    assert.equal(as.device_authorization_endpoint, `${shark.issuer}/oauth/device_authorization`)
    assert.ok(as.grant_types_supported.includes(DEVICE))
  })

  describe('approve: pending, slow_down, sign in at /device, enter the code, approve, tokens', () => {
    let client, da, user, b
    before(async () => {
      client = await k.deviceClient('approve')
      user = await k.person('approver')
      b = new Browser(shark.issuer) // a fresh browser: must sign in first
    })

    it('device authorization response (RFC 8628 §3.2)', async () => {
      da = await k.start(client)
      assert.match(da.device_code, /\S{20,}/)
      assert.match(da.user_code, USER_CODE)
      assert.equal(da.verification_uri, `${shark.issuer}/device`)
      const complete = new URL(da.verification_uri_complete)
      assert.equal(complete.origin + complete.pathname, da.verification_uri)
      assert.equal(complete.searchParams.get('user_code'), da.user_code)
      assert.ok(da.expires_in > 0 && da.expires_in <= 1800, String(da.expires_in))
      assert.equal(da.interval, 5)
    })

    it('polling before the user decides → authorization_pending; polling faster than interval → slow_down', async () => {
      assert.equal(await k.pollResult(client, da.device_code), 'authorization_pending')
      assert.equal(await k.pollResult(client, da.device_code), 'slow_down')
    })

    it('another client cannot poll this device_code', async () => {
      const other = await k.deviceClient('thief')
      assert.equal(await k.pollResult(other, da.device_code), 'invalid_grant')
      assert.equal(await k.pollResult(client, 'dc_doesnotexist'), 'invalid_grant')
    })

    it('verification_uri_complete without a session → /login?next=… → sign in → back to /device with the code filled in', async () => {
      const first = await b.get(da.verification_uri_complete)
      assert.equal(first.status, 303, first.text)
      const login = new URL(first.location)
      assert.equal(login.pathname, '/login')
      assert.equal(login.searchParams.get('next'), `/device?user_code=${da.user_code}`)
      const page = await b.get(login.href)
      assert.equal(page.status, 200)
      const next = inputValue(page.text, 'next')
      assert.equal(next, `/device?user_code=${da.user_code}`)
      const login_csrf = inputValue(page.text, 'login_csrf')
      const posted = await b.post('/login', { email: user.email, password: user.password, next, request: '', login_csrf })
      assert.equal(posted.status, 303, posted.text)
      assert.equal(posted.location, `${shark.issuer}/device?user_code=${da.user_code}`)
      const entry = await b.get(posted.location)
      assert.equal(entry.status, 200, entry.text)
      assert.equal(inputValue(entry.text, 'user_code'), da.user_code)
      assert.ok(entry.text.includes(user.email))
    })

    it('/login?next= only goes back to /device (no open redirect)', async () => {
      const c = new Browser(shark.issuer)
      for (const next of ['https://evil.example/', '//evil.example/x', '/oauth/authorize', '/devicex']) {
        const page = await c.get(`/login?next=${encodeURIComponent(next)}`)
        assert.equal(page.status, 200)
        assert.notEqual(inputValue(page.text, 'next'), next, next)
        const r = await c.post('/login', { email: user.email, password: user.password, next,
          login_csrf: inputValue(page.text, 'login_csrf') })
        assert.equal(r.status, 303)
        assert.equal(new URL(r.location).origin, shark.issuer, next)
        assert.ok(!new URL(r.location).pathname.startsWith('/oauth'), r.location)
      }
    })

    it('the code and a CSRF-checked form: confirmation page names the client and scopes', async () => {
      const entry = await b.get(`/device?user_code=${da.user_code}`)
      const csrf = inputValue(entry.text, 'csrf_token')
      const noCsrf = await b.post('/device', { user_code: da.user_code })
      assert.equal(noCsrf.status, 403, noCsrf.text)
      const confirm = await b.post('/device', { csrf_token: csrf, user_code: da.user_code })
      assert.equal(confirm.status, 200, confirm.text)
      assert.match(confirm.text, /device approve/)
      for (const s of SCOPE.split(' ')) assert.ok(confirm.text.includes(s), s)
      assert.equal(inputValue(confirm.text, 'user_code').replace('-', ''), da.user_code.replace('-', ''))
      // a decision with a wrong csrf_token changes nothing
      const forged = await b.post('/device/decision', { csrf_token: 'nope', user_code: da.user_code, decision: 'approve' })
      assert.equal(forged.status, 403, forged.text)
      // Still undecided. Which of the two pending answers comes depends only on how
      // long ago the earlier test polled (RFC 8628 §3.5: slow_down inside the interval).
      assert.ok(['authorization_pending', 'slow_down'].includes(await k.pollResult(client, da.device_code)))
      const done = await k.decideDevice(b, confirm, 'approve')
      assert.equal(done.status, 200, done.text)
      assert.match(done.text, /connected/i)
      // deciding again: the code is spent
      const again = await k.decideDevice(b, confirm, 'deny')
      assert.equal(again.status, 400, again.text)
    })

    it('the poller gets tokens for the user (sub, client_id, scope, id_token, refresh token)', async () => {
      const tr = await k.poll(client, da.device_code)
      assert.equal(tr.token_type, 'bearer')
      assert.equal(tr.scope, SCOPE)
      assert.match(tr.refresh_token, /^rt_/)
      const { payload } = await jose.jwtVerify(tr.access_token, jwks, { issuer: shark.issuer, audience: shark.issuer, typ: 'at+jwt' })
      assert.equal(payload.sub, user.id)
      assert.equal(payload.client_id, client.client_id)
      assert.equal(payload.scope, SCOPE)
      const idt = oauth.getValidatedIdTokenClaims(tr)
      assert.equal(idt?.sub, user.id)
      assert.equal(idt.aud, client.client_id)
      const info = await oauth.processUserInfoResponse(as, { client_id: client.client_id }, user.id,
        await oauth.userInfoRequest(as, { client_id: client.client_id }, tr.access_token, insecure))
      assert.equal(info.email, user.email)
      // refresh works for a device-flow grant
      const c = { client_id: client.client_id }
      const next = await oauth.processRefreshTokenResponse(as, c,
        await oauth.refreshTokenGrantRequest(as, c, k.authFor(client), tr.refresh_token, insecure))
      assert.equal((await jose.jwtVerify(next.access_token, jwks)).payload.sub, user.id)
    })

    it('the device_code is single use: polling again → invalid_grant', async () => {
      assert.equal(await k.pollResult(client, da.device_code), 'invalid_grant')
    })
  })

  describe('deny, wrong codes, client checks', () => {
    let client, user
    before(async () => {
      client = await k.deviceClient('deny')
      user = await k.person('denier')
    })

    it('deny → the poller gets access_denied (code typed lower case without the dash)', async () => {
      const da = await k.start(client)
      const confirm = await k.enter(user.browser, da.user_code.replace('-', '').toLowerCase())
      assert.equal(confirm.status, 200, confirm.text)
      const done = await k.decideDevice(user.browser, confirm, 'deny')
      assert.equal(done.status, 200, done.text)
      assert.match(done.text, /denied/i)
      assert.equal(await k.pollResult(client, da.device_code), 'access_denied')
      // the denied code cannot be approved afterwards
      const late = await k.decideDevice(user.browser, confirm, 'approve')
      assert.equal(late.status, 400)
      assert.equal(await k.pollResult(client, da.device_code), 'access_denied')
    })

    it('a wrong or malformed user code on the page → error shown, form kept', async () => {
      for (const code of ['BCDF-GHJK', 'hello', 'AAAA-AAAA', '']) {
        const r = await k.enter(user.browser, code)
        assert.equal(r.status, 400, `${code}: ${r.status}`)
        assert.match(r.text, /not valid|expired/i, code)
        assert.ok(inputValue(r.text, 'csrf_token'), 'the entry form is shown again')
        assert.doesNotMatch(r.text, /name=decision/, 'no decision form')
      }
    })

    it('guessing is throttled: after 10 wrong codes even a right one is refused (429)', async () => {
      const guesser = await k.person('guesser')
      const da = await k.start(client)
      for (let i = 0; i < 10; i++) {
        const r = await k.enter(guesser.browser, 'BCDF-GHJK')
        assert.equal(r.status, 400)
      }
      const r = await k.enter(guesser.browser, da.user_code)
      assert.equal(r.status, 429, r.text)
      // another person is not affected
      const ok = await k.enter(user.browser, da.user_code)
      assert.equal(ok.status, 200, ok.text)
    })

    it('the user_code from the query is escaped on the entry page', async () => {
      const evil = '"><script>alert(1)</script>'
      const r = await user.browser.get(`/device?user_code=${encodeURIComponent(evil)}`)
      assert.equal(r.status, 200)
      assert.ok(!r.text.includes('<script>'), 'reflected markup')
      assert.equal(inputValue(r.text, 'user_code'), evil)
      assert.match(r.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/)
    })

    it('a signed-out POST /device answers 401, not a decision', async () => {
      const da = await k.start(client)
      const anon = new Browser(shark.issuer)
      const r = await anon.post('/device/decision', { csrf_token: 'x', user_code: da.user_code, decision: 'approve' })
      assert.equal(r.status, 401)
      assert.equal(await k.pollResult(client, da.device_code), 'authorization_pending')
    })

    it('a confidential client must authenticate; a client without the grant is unauthorized_client', async () => {
      const r = await postForm(as.device_authorization_endpoint, { client_id: client.client_id, scope: 'openid' })
      assert.equal(r.status, 401, r.text)
      assert.equal(r.json?.error, 'invalid_client')
      const wrong = await postForm(as.device_authorization_endpoint, { scope: 'openid' },
        { authorization: basic(client.client_id, 'wrong-secret') })
      assert.equal(wrong.status, 401, wrong.text)
      const cc = await register(as, { client_name: 'no device grant' })
      const nogrant = await postForm(as.device_authorization_endpoint, {},
        { authorization: basic(cc.client_id, cc.client_secret) })
      assert.equal(nogrant.status, 400, nogrant.text)
      assert.equal(nogrant.json?.error, 'unauthorized_client')
      const scope = await postForm(as.device_authorization_endpoint, { scope: 'openid admin:all' },
        { authorization: basic(client.client_id, client.client_secret) })
      assert.equal(scope.status, 400, scope.text)
      assert.equal(scope.json?.error, 'invalid_scope')
    })

    it('a public client (none) runs the whole flow with client_id only', async () => {
      const pub = await k.deviceClient('public', { token_endpoint_auth_method: 'none' })
      assert.equal(pub.client_secret, undefined)
      const da = await k.start(pub, { scope: 'openid' })
      assert.equal(await k.pollResult(pub, da.device_code), 'authorization_pending')
      const done = await k.decideDevice(user.browser, await k.enter(user.browser, da.user_code), 'approve')
      assert.equal(done.status, 200)
      const tr = await k.poll(pub, da.device_code)
      assert.equal((await jose.jwtVerify(tr.access_token, jwks)).payload.sub, user.id)
      assert.equal(tr.scope, 'openid')
    })

    it('two concurrent polls after approval: exactly one gets tokens', async () => {
      const da = await k.start(client)
      const done = await k.decideDevice(user.browser, await k.enter(user.browser, da.user_code), 'approve')
      assert.equal(done.status, 200)
      const rs = await Promise.all([k.pollResult(client, da.device_code), k.pollResult(client, da.device_code)])
      assert.deepEqual(rs.sort(), ['invalid_grant', 'tokens'])
    })

    it('after slow_down, a poller that adds 5 s to its interval gets authorization_pending again', { timeout: 30_000 }, async () => {
      const da = await k.start(client)
      assert.equal(await k.pollResult(client, da.device_code), 'authorization_pending')
      assert.equal(await k.pollResult(client, da.device_code), 'slow_down')
      await sleep((da.interval + 5) * 1000 + 300)
      assert.equal(await k.pollResult(client, da.device_code), 'authorization_pending')
    })
  })

  describe('expiry (server with --device-code-ttl 2)', () => {
    let as2
    const short = useShark(['--device-code-ttl', '2'], async () => {
      as2 = await discover(short)
    })
    const k2 = kit(() => short, () => as2)

    it('an expired device code → expired_token for the poller; the page refuses the code', async () => {
      const client = await k2.deviceClient('expiry')
      const user = await k2.person('late')
      const da = await k2.start(client)
      assert.equal(da.expires_in, 2)
      assert.equal(await k2.pollResult(client, da.device_code), 'authorization_pending')
      await sleep(3000)
      assert.equal(await k2.pollResult(client, da.device_code), 'expired_token')
      const r = await k2.enter(user.browser, da.user_code)
      assert.equal(r.status, 400, r.text)
      assert.match(r.text, /not valid|expired/i)
    })

    it('a code approved but collected after expiry → expired_token', async () => {
      const client = await k2.deviceClient('expiry2')
      const user = await k2.person('late2')
      const da = await k2.start(client)
      const done = await k2.decideDevice(user.browser, await k2.enter(user.browser, da.user_code), 'approve')
      assert.equal(done.status, 200, done.text)
      await sleep(3000)
      assert.equal(await k2.pollResult(client, da.device_code), 'expired_token')
    })
  })
})
