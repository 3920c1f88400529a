// An agent calling the MCP-style server the way an MCP client does: the
// first call without a token gets 401 with resource_metadata; the RFC 9728
// metadata names the authorization server and the resource; the agent gets a
// DPoP-bound token for that resource (RFC 8707) and calls the tools, each
// request with a fresh DPoP proof.
//
//   MCP_URL          the server's endpoint (default http://127.0.0.1:3001/mcp)
//   AGENT_CLIENT_ID, AGENT_CLIENT_SECRET   the agent's credentials; or
//   SHARK_ADMIN_KEY  to register a demo app and agent first (with SHARK_URL)
import { Client, DPoPHTTPClient, DPoPProver, OAuthClient } from '@sharkauth/sdk'

const MCP_URL = process.env.MCP_URL ?? 'http://127.0.0.1:3001/mcp'
let clientId = process.env.AGENT_CLIENT_ID
let clientSecret = process.env.AGENT_CLIENT_SECRET

// 1. Discovery: the 401 challenge points at the metadata.
const first = await fetch(MCP_URL, { method: 'POST', body: '{}' })
const challenge = first.headers.get('www-authenticate') ?? ''
const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)?.[1]
if (first.status !== 401 || !metadataUrl) throw new Error(`expected a 401 naming resource_metadata, got ${first.status} ${challenge}`)
const metadata = await (await fetch(metadataUrl)).json() as { resource: string, authorization_servers: string[] }
const issuer = metadata.authorization_servers[0] as string
console.log(`resource ${metadata.resource}, authorization server ${issuer}`)

// 2. Demo provisioning: an app allowed to name this resource, and an agent.
if (!clientId && process.env.SHARK_ADMIN_KEY) {
  const admin = new Client({ baseUrl: issuer, token: process.env.SHARK_ADMIN_KEY })
  const app = await admin.apps.createApp({ name: 'mcp-example', scopes: ['mcp:read', 'mcp:write'], resources: [metadata.resource] })
  const agent = await admin.agents.registerAgent({ appId: app.id, name: 'mcp-example-agent', scopes: ['mcp:read', 'mcp:write'] })
  clientId = agent.clientId
  clientSecret = agent.clientSecret
}
if (!clientId || !clientSecret) throw new Error('set AGENT_CLIENT_ID and AGENT_CLIENT_SECRET, or SHARK_ADMIN_KEY')

// 3. A DPoP-bound token for the resource, read-only first.
const prover = await DPoPProver.generate()
const oauth = new OAuthClient({ baseUrl: issuer, clientId, clientSecret })
let token = await oauth.getTokenWithDpop({ dpopProver: prover, scope: 'mcp:read', resource: metadata.resource })

const endpoint = new URL(MCP_URL)
const mcp = new DPoPHTTPClient({ baseUrl: endpoint.origin })
let id = 0
async function rpc(method: string, params?: unknown) {
  const resp = await mcp.postWithDpop(endpoint.pathname, { token: token.accessToken, prover, json: { jsonrpc: '2.0', id: ++id, method, params } })
  return resp
}

console.log('initialize:', (await rpc('initialize')).raiseForStatus().json().result.serverInfo)
console.log('tools:', (await rpc('tools/list')).raiseForStatus().json().result.tools.map((t: { name: string }) => t.name).join(', '))
console.log('whoami:', (await rpc('tools/call', { name: 'whoami' })).raiseForStatus().json().result.content[0].text)

// 4. Writing needs mcp:write: refused with 403, then allowed with a wider token.
const refused = await rpc('tools/call', { name: 'write_note', arguments: { text: 'hello' } })
console.log(`write_note with mcp:read only: ${refused.status} ${refused.headers.get('www-authenticate')}`)
if (refused.status !== 403) throw new Error('expected 403 insufficient_scope')
token = await oauth.getTokenWithDpop({ dpopProver: prover, scope: 'mcp:read mcp:write', resource: metadata.resource })
console.log('write_note:', (await rpc('tools/call', { name: 'write_note', arguments: { text: 'hello from the agent' } })).raiseForStatus().json().result.content[0].text)
console.log('list_notes:', (await rpc('tools/call', { name: 'list_notes' })).raiseForStatus().json().result.content[0].text)
console.log('ok')
