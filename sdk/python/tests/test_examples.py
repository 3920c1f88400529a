"""examples/python runs: the MCP-style server (a subprocess), provision.py and
agent.py against the suite's shark, with the programs' own output checked."""
import json
import os
import subprocess
import time

import httpx
import pytest
from conftest import REPO, free_port, run_example

EX = os.path.join(REPO, "examples", "python")


def start_mcp_server(shark, port, env):
    env = dict(env, SHARK_URL=shark.url, MCP_PORT=str(port))
    proc = run_example([os.path.join(EX, "mcp_server.py")], env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while True:
        try:
            httpx.get("http://127.0.0.1:%d/.well-known/oauth-protected-resource/mcp" % port,
                      timeout=2)
            break
        except httpx.HTTPError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError("the example server did not start")
            time.sleep(0.1)
    return proc


def run(args, env):
    p = run_example(args, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err.decode()
    return out.decode()


@pytest.fixture
def world(shark):
    """provision.py's exports, and mcp_server.py started with them."""
    port = free_port()
    mcp_url = "http://127.0.0.1:%d/mcp" % port
    exports = run([os.path.join(EX, "provision.py")], {
        "SHARK_URL": shark.url, "SHARK_ADMIN_KEY": shark.admin_key, "MCP_URL": mcp_url})
    env = dict(line[len("export "):].split("=", 1) for line in exports.splitlines())
    proc = start_mcp_server(shark, port, env)
    yield mcp_url, env
    proc.terminate()
    proc.wait(10)


def test_agent_calls_the_protected_mcp_server(shark, world):
    mcp_server, env = world
    assert env["SHARK_AGENT_CLIENT_ID"].startswith("shark_agent_")
    assert env["SHARK_RS_CLIENT_ID"].startswith("shark_agent_")
    out = json.loads(run([os.path.join(EX, "agent.py")], env))
    assert out["issuer"] == shark.url and out["resource"] == mcp_server
    calls = out["calls"]
    assert all(c["status"] == 200 for c in calls.values()), calls
    names = [t["name"] for t in calls["tools/list"]["body"]["result"]["tools"]]
    assert names == ["whoami", "add_note"]
    who = json.loads(calls["tools/call:whoami"]["body"]["result"]["content"][0]["text"])
    assert who["sub"] == env["SHARK_AGENT_CLIENT_ID"] and who["delegation_chain"] == []
    # with only mcp:read, add_note is a 403 insufficient_scope
    env_ro = dict(env, SHARK_SCOPE="mcp:read")
    out = json.loads(run([os.path.join(EX, "agent.py")], env_ro))
    assert out["calls"]["tools/call:whoami"]["status"] == 200
    assert out["calls"]["tools/call:add_note"] == {"status": 403,
                                                   "body": {"error": "insufficient_scope"}}
    # a revoked agent is refused at once: the server introspects with its
    # resource-server credentials
    from shark_auth import Client, DPoPHTTPClient, DPoPProver, OAuthClient
    prover = DPoPProver.generate()
    t = OAuthClient(shark.url).get_token_with_dpop(
        dpop_prover=prover, client_id=env["SHARK_AGENT_CLIENT_ID"],
        client_secret=env["SHARK_AGENT_CLIENT_SECRET"], scope="mcp:read", resource=mcp_server)
    http = DPoPHTTPClient(base_url=mcp_server)
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    assert http.post_with_dpop("", token=t.access_token, prover=prover, json=call
                               ).status_code == 200
    Client(shark.url, token=shark.admin_key).agents.revoke_all(env["SHARK_AGENT_CLIENT_ID"])
    r = http.post_with_dpop("", token=t.access_token, prover=prover, json=call)
    assert r.status_code == 401 and r.json() == {
        "error": "invalid_token", "error_description": "the token is revoked or expired"}
