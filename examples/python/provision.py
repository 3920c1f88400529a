"""Admin side of the example: an application whose agents may ask tokens for
the MCP server's resource, one agent in it, and a resource-server agent whose
credentials let the MCP server introspect tokens. Prints shell exports for
mcp_server.py and agent.py.

    SHARK_URL=http://127.0.0.1:8080 SHARK_ADMIN_KEY=sk_live_... \\
    MCP_URL=http://127.0.0.1:8765/mcp python3 provision.py"""
import os
import shlex

from shark_auth import Client

SHARK_URL = os.environ.get("SHARK_URL", "http://127.0.0.1:8080")
MCP_URL = os.environ.get("MCP_URL", "http://127.0.0.1:8765/mcp")
SCOPES = os.environ.get("SHARK_SCOPE", "mcp:read mcp:write").split()

admin = Client(base_url=SHARK_URL, token=os.environ["SHARK_ADMIN_KEY"])
app = admin.apps.create_app(name="example-mcp-clients", scopes=["mcp:read", "mcp:write"],
                            resources=[MCP_URL])
agent = admin.agents.register_agent(app_id=app["id"], name="example-agent", scopes=SCOPES,
                                    description="calls the example MCP server")
server = admin.agents.register_agent(app_id=app["id"], name="example-mcp-server",
                                     scopes=["mcp:read"], resource_server=True,
                                     description="introspects tokens for the example MCP server")
print("export SHARK_RS_CLIENT_ID=%s" % shlex.quote(server["client_id"]))
print("export SHARK_RS_CLIENT_SECRET=%s" % shlex.quote(server["client_secret"]))
print("export SHARK_AGENT_CLIENT_ID=%s" % shlex.quote(agent["client_id"]))
print("export SHARK_AGENT_CLIENT_SECRET=%s" % shlex.quote(agent["client_secret"]))
print("export MCP_URL=%s" % shlex.quote(MCP_URL))
