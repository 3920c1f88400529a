// An MCP-style resource server protected by @sharkauth/sdk's ResourceServer:
// JSON-RPC 2.0 over POST /mcp (initialize, tools/list, tools/call), the
// RFC 9728 metadata at /.well-known/oauth-protected-resource/mcp, and every
// request's DPoP-bound token verified against the SharkAuth issuer's JWKS.
//
//   SHARK_URL   the SharkAuth server (default http://127.0.0.1:8080)
//   PORT        where this server listens on 127.0.0.1 (default 3001; 0 picks one)
//   RS_CLIENT_ID, RS_CLIENT_SECRET   optional: an agent registered with
//               resourceServer: true, to check revocation by introspection
import http from 'node:http'
import { ResourceServer, type VerifiedClaims } from '@sharkauth/sdk'

const SHARK_URL = process.env.SHARK_URL ?? 'http://127.0.0.1:8080'
const PORT = Number(process.env.PORT ?? 3001)

const notes: string[] = []

// The tools, with the scope each needs.
const tools: Record<string, { scope: string, description: string, run: (args: any, auth: VerifiedClaims) => unknown }> = {
  whoami: {
    scope: 'mcp:read',
    description: 'Who is calling, and on whose behalf',
    run: (_args, auth) => ({ sub: auth.sub, clientId: auth.clientId, scopes: auth.scopes, delegationChain: auth.delegationChain().map((h) => h.sub) }),
  },
  list_notes: { scope: 'mcp:read', description: 'The notes written so far', run: () => ({ notes }) },
  write_note: {
    scope: 'mcp:write',
    description: 'Adds a note',
    run: (args) => { notes.push(String(args?.text ?? '')); return { count: notes.length } },
  },
}

async function readJson(req: http.IncomingMessage): Promise<any> {
  let body = ''
  for await (const chunk of req) {
    body += chunk
    if (body.length > 100_000) throw new Error('body too large')
  }
  return JSON.parse(body)
}

function reply(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

const server = http.createServer()
server.listen(PORT, '127.0.0.1', () => {
  const address = server.address() as { port: number }
  const resource = `http://127.0.0.1:${address.port}/mcp`
  const rs = new ResourceServer({
    issuer: SHARK_URL,
    resource,
    requiredScopes: ['mcp:read'],
    scopesSupported: ['mcp:read', 'mcp:write'],
    resourceName: 'Notes (SharkAuth example)',
    introspect: Boolean(process.env.RS_CLIENT_ID),
    introspectionClientId: process.env.RS_CLIENT_ID,
    introspectionClientSecret: process.env.RS_CLIENT_SECRET,
  })
  const metadata = rs.metadataMiddleware()
  const guard = rs.middleware()

  server.on('request', (req: http.IncomingMessage & { auth?: VerifiedClaims }, res: http.ServerResponse) => {
    metadata(req, res, () => {
      if (req.url !== '/mcp' || req.method !== 'POST') return reply(res, 404, { error: 'not_found' })
      guard(req, res, async () => {
        let msg: any
        try {
          msg = await readJson(req)
        } catch {
          return reply(res, 400, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error' } })
        }
        const auth = req.auth as VerifiedClaims
        const done = (result: unknown) => reply(res, 200, { jsonrpc: '2.0', id: msg.id ?? null, result })
        const fail = (code: number, message: string) => reply(res, 200, { jsonrpc: '2.0', id: msg.id ?? null, error: { code, message } })
        if (msg.method === 'initialize') return done({ protocolVersion: '2025-06-18', serverInfo: { name: 'notes', version: '1.0.0' }, capabilities: { tools: {} } })
        if (msg.method === 'tools/list') {
          return done({ tools: Object.entries(tools).map(([name, t]) => ({ name, description: t.description, requiredScope: t.scope })) })
        }
        if (msg.method === 'tools/call') {
          const tool = tools[msg.params?.name]
          if (!tool) return fail(-32602, 'no such tool')
          // A tool needing more than mcp:read is refused the way RFC 6750 says: 403 insufficient_scope.
          if (!auth.hasScope(tool.scope)) {
            return reply(res, 403, { error: 'insufficient_scope' }, { 'www-authenticate': rs.wwwAuthenticate('insufficient_scope', `${msg.params.name} needs ${tool.scope}`, [tool.scope]) })
          }
          return done({ content: [{ type: 'text', text: JSON.stringify(tool.run(msg.params.arguments, auth)) }] })
        }
        return fail(-32601, 'method not found')
      })
    })
  })
  console.log(`MCP server at ${resource} (issuer ${SHARK_URL})`)
})

for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => server.close(() => process.exit(0)))
