"""An MCP-style resource server protected by SharkAuth (shark_auth's helper).

It speaks JSON-RPC 2.0 at POST /mcp (initialize, tools/list, tools/call) and
serves RFC 9728 metadata at /.well-known/oauth-protected-resource/mcp, so an
MCP client can discover which authorization server to ask for a token. Every
call to /mcp needs a DPoP-bound SharkAuth token whose aud is this resource and
whose scope holds mcp:read; the tool add_note also needs mcp:write.

    SHARK_URL=http://127.0.0.1:8080 MCP_PORT=8765 python3 mcp_server.py

Environment: SHARK_URL (the issuer), MCP_PORT (default 8765), MCP_PUBLIC_URL
(the URL clients use, default http://127.0.0.1:$MCP_PORT), and optionally
SHARK_RS_CLIENT_ID / SHARK_RS_CLIENT_SECRET: the credentials of an agent marked
resource_server (provision.py makes one), with which the server introspects each
token so a revocation is seen at once — no admin key on the resource server."""
import json
import os
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server

from shark_auth import ResourceServer

SHARK_URL = os.environ.get("SHARK_URL", "http://127.0.0.1:8080")
PORT = int(os.environ.get("MCP_PORT", "8765"))
PUBLIC_URL = os.environ.get("MCP_PUBLIC_URL", "http://127.0.0.1:%d" % PORT).rstrip("/")
RS_ID = os.environ.get("SHARK_RS_CLIENT_ID")
RS_SECRET = os.environ.get("SHARK_RS_CLIENT_SECRET")

rs = ResourceServer(
    issuer=SHARK_URL,
    resource=PUBLIC_URL + "/mcp",
    required_scopes=["mcp:read"],
    scopes_supported=["mcp:read", "mcp:write"],
    resource_name="SharkAuth example MCP server",
    public_base_url=PUBLIC_URL,
    **({"introspect": True, "introspection_client_id": RS_ID,
        "introspection_client_secret": RS_SECRET} if RS_ID else {}),
)

NOTES = []
TOOLS = [
    {"name": "whoami", "description": "Who is calling, and on whose behalf",
     "inputSchema": {"type": "object", "properties": {}}},
    {"name": "add_note", "description": "Store a note (needs mcp:write)",
     "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}},
                     "required": ["text"]}},
]


def call_tool(claims, name, args):
    if name == "whoami":
        return {"sub": claims.sub, "client_id": claims.client_id, "scope": claims.scope,
                "delegation_chain": [hop.sub for hop in claims.delegation_chain]}
    if name == "add_note":
        NOTES.append({"by": claims.sub, "text": str(args.get("text", ""))})
        return {"stored": len(NOTES)}
    raise KeyError(name)


def rpc(claims, msg):
    method, mid = msg.get("method"), msg.get("id")
    if method == "initialize":
        result = {"protocolVersion": "2025-06-18", "serverInfo": {"name": "shark-example"},
                  "capabilities": {"tools": {}}}
    elif method == "tools/list":
        result = {"tools": TOOLS}
    elif method == "tools/call":
        p = msg.get("params") or {}
        try:
            out = call_tool(claims, p.get("name"), p.get("arguments") or {})
        except KeyError:
            return {"jsonrpc": "2.0", "id": mid, "error": {"code": -32602,
                                                             "message": "unknown tool"}}
        result = {"content": [{"type": "text", "text": json.dumps(out)}]}
    else:
        return {"jsonrpc": "2.0", "id": mid, "error": {"code": -32601,
                                                         "message": "method not found"}}
    return {"jsonrpc": "2.0", "id": mid, "result": result}


def app(environ, start_response):
    def answer(status, obj, extra=()):
        body = json.dumps(obj).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(body)))] + list(extra))
        return [body]

    if environ["PATH_INFO"] != "/mcp":
        return answer("404 Not Found", {"error": "not_found"})
    if environ["REQUEST_METHOD"] != "POST":
        return answer("405 Method Not Allowed", {"error": "use POST"}, [("Allow", "POST")])
    claims = environ["shark_auth.claims"]  # set by the middleware: the token verified
    try:
        msg = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
    except ValueError:
        return answer("400 Bad Request", {"jsonrpc": "2.0", "id": None,
                                          "error": {"code": -32700, "message": "parse error"}})
    if (msg.get("method") == "tools/call" and (msg.get("params") or {}).get("name") == "add_note"
            and not claims.has_scope("mcp:write")):
        challenge = rs.www_authenticate("insufficient_scope", "add_note needs mcp:write",
                                        scope="mcp:read mcp:write")
        return answer("403 Forbidden", {"error": "insufficient_scope"},
                      [("WWW-Authenticate", challenge)])
    return answer("200 OK", rpc(claims, msg))


class Handler(WSGIRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("mcp_server: " + fmt % args + "\n")


if __name__ == "__main__":
    httpd = make_server("127.0.0.1", PORT, rs.wsgi(app), handler_class=Handler)
    print("MCP server on %s/mcp, tokens from %s" % (PUBLIC_URL, SHARK_URL), flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
