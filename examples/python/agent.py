"""An agent calling the example MCP server the way an MCP client does:

1. call /mcp without a token: the 401 names the resource metadata URL;
2. read the RFC 9728 metadata: which authorization server, which resource;
3. get a DPoP-bound token for that resource from SharkAuth (client credentials);
4. call tools/list and tools/call with a fresh DPoP proof each time.

    SHARK_AGENT_CLIENT_ID=shark_agent_... SHARK_AGENT_CLIENT_SECRET=... \\
    MCP_URL=http://127.0.0.1:8765/mcp python3 agent.py

Prints one JSON object with what it learned and what the tools answered."""
import json
import os
import re
import sys

import httpx

from shark_auth import DPoPHTTPClient, DPoPProver, OAuthClient

MCP_URL = os.environ.get("MCP_URL", "http://127.0.0.1:8765/mcp")
CLIENT_ID = os.environ["SHARK_AGENT_CLIENT_ID"]
CLIENT_SECRET = os.environ["SHARK_AGENT_CLIENT_SECRET"]
SCOPE = os.environ.get("SHARK_SCOPE", "mcp:read mcp:write")


def main():
    # 1-2: discovery from the challenge
    r = httpx.post(MCP_URL, json={"jsonrpc": "2.0", "id": 0, "method": "initialize"})
    if r.status_code != 401:
        sys.exit("expected a 401 challenge, got %d" % r.status_code)
    meta_url = re.search(r'resource_metadata="([^"]+)"', r.headers["WWW-Authenticate"]).group(1)
    meta = httpx.get(meta_url).json()
    issuer, resource = meta["authorization_servers"][0], meta["resource"]

    # 3: a token bound to this instance's key, for this resource only
    prover = DPoPProver.generate()
    token = OAuthClient(issuer).get_token_with_dpop(
        grant_type="client_credentials", dpop_prover=prover, client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET, scope=SCOPE, resource=resource)
    assert token.cnf_jkt == prover.jkt

    # 4: the MCP calls
    http = DPoPHTTPClient(base_url=MCP_URL)
    out = {"issuer": issuer, "resource": resource, "scope": token.scope, "calls": {}}
    for i, (method, params) in enumerate([
            ("initialize", None), ("tools/list", None),
            ("tools/call", {"name": "whoami", "arguments": {}}),
            ("tools/call", {"name": "add_note", "arguments": {"text": "hello from the agent"}})]):
        resp = http.post_with_dpop("", token=token.access_token, prover=prover,
                                   json={"jsonrpc": "2.0", "id": i + 1, "method": method,
                                         "params": params or {}})
        key = method if params is None else "%s:%s" % (method, params["name"])
        out["calls"][key] = {"status": resp.status_code, "body": resp.json()}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
