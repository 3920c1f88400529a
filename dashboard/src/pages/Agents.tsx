import { FormEvent, useState } from "react";
import { api, rowsOf } from "../api";
import { Badge, Confirm, Done, ErrorNote, Field, Link, SecretOnce, splitList, useLoad, When } from "../components";
import { Column, DataTable, nextPosition, useCursorList } from "../list";
import { EventTable } from "./Audit";

const AGENT_COLUMNS: Column<any>[] = [
  {
    key: "name",
    label: "Name",
    render: (a) => <Link to={`/admin/agents/${encodeURIComponent(a.id)}`}>{a.name || a.id}</Link>,
  },
  { key: "client_id", label: "Client ID", render: (a) => <code>{a.client_id}</code> },
  {
    key: "status",
    label: "Status",
    render: (a) => <Badge kind={a.status === "active" ? "good" : "bad"}>{a.status}</Badge>,
  },
  { key: "scopes", label: "Scopes" },
  {
    key: "dpop_jkt",
    label: "DPoP key",
    render: (a) => (a.dpop_jkt ? <code>{a.dpop_jkt.slice(0, 12)}…</code> : "any"),
  },
  { key: "created_at", label: "Created", render: (a) => <When at={a.created_at} /> },
];

const TOKEN_COLUMNS: Column<any>[] = [
  { key: "token_id", label: "Token (jti)", render: (t) => <code>{t.token_id}</code> },
  { key: "scope", label: "Scope" },
  { key: "jkt", label: "Key", render: (t) => (t.jkt ? <code>{t.jkt.slice(0, 12)}…</code> : "bearer") },
  { key: "created_at", label: "Issued", render: (t) => <When at={t.created_at} /> },
  { key: "expires_at", label: "Expires", render: (t) => <When at={t.expires_at} /> },
  {
    key: "chain",
    label: "Chain",
    render: (t) => <Link to={`/admin/tokens/${encodeURIComponent(t.token_id)}/chain`}>Delegation</Link>,
  },
];

function queryParam(name: string) {
  return new URLSearchParams(location.search).get(name) ?? "";
}

export function Agents() {
  const [appId, setAppId] = useState(queryParam("app_id"));
  const [status, setStatus] = useState("");
  const list = useCursorList("/api/v1/agents", { app_id: appId, status });
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<{ id: string; value: string } | null>(null);
  return (
    <section>
      <div className="head">
        <h1>Agents</h1>
        <button className="primary" onClick={() => setCreating(!creating)} aria-expanded={creating}>
          New agent
        </button>
      </div>
      {secret && (
        <SecretOnce
          label={`Client secret of ${secret.id}`}
          value={secret.value}
          onDismiss={() => setSecret(null)}
        />
      )}
      {creating && (
        <NewAgent
          defaultApp={appId}
          onDone={(a) => {
            setCreating(false);
            setSecret({ id: a.client_id, value: a.client_secret });
            list.reload();
          }}
        />
      )}
      <div className="filters">
        <Field label="Application ID">
          <input value={appId} onChange={(e) => setAppId(e.target.value.trim())} placeholder="app_…" />
        </Field>
        <Field label="Status">
          <select value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="">any</option>
            <option value="active">active</option>
            <option value="disabled">disabled</option>
          </select>
        </Field>
      </div>
      <ErrorNote error={list.error} />
      <DataTable columns={AGENT_COLUMNS} list={list} label="agents" empty="No agents match." />
    </section>
  );
}

function NewAgent({ defaultApp, onDone }: { defaultApp: string; onDone: (a: any) => void }) {
  // The newest 1,000 applications to choose from; past that, an ID to type.
  const apps = useLoad(() => api("/api/v1/apps", { query: { limit: 1000 } }), []);
  const listed = rowsOf(apps.data);
  const more = nextPosition(apps.data, { offset: 0 }, listed.length) !== null;
  const [appId, setAppId] = useState(defaultApp);
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState("");
  const [error, setError] = useState<Error | null>(null);
  async function submit(e: FormEvent) {
    e.preventDefault();
    try {
      onDone(
        await api("/api/v1/agents", {
          method: "POST",
          body: { app_id: appId || undefined, name, scopes: splitList(scopes) },
        }),
      );
    } catch (err) {
      setError(err as Error);
    }
  }
  return (
    <form className="panel" onSubmit={submit}>
      <h2>New agent</h2>
      {more ? (
        <Field label="Application" hint="its ID; the newest 1,000 are suggested">
          <input value={appId} onChange={(e) => setAppId(e.target.value.trim())} name="agent_app" list="apps" required />
        </Field>
      ) : (
        <Field label="Application">
          <select value={appId} onChange={(e) => setAppId(e.target.value)} name="agent_app" required>
            <option value="">choose…</option>
            {listed.map((a) => (
              <option key={a.id} value={a.id}>
                {a.name} ({a.id})
              </option>
            ))}
          </select>
        </Field>
      )}
      {more && (
        <datalist id="apps">
          {listed.map((a) => (
            <option key={a.id} value={a.id}>
              {a.name}
            </option>
          ))}
        </datalist>
      )}
      <Field label="Name">
        <input value={name} onChange={(e) => setName(e.target.value)} required name="agent_name" />
      </Field>
      <Field label="Scopes" hint="within the application's">
        <input value={scopes} onChange={(e) => setScopes(e.target.value)} name="agent_scopes" />
      </Field>
      <ErrorNote error={error} />
      <button type="submit" className="primary">
        Create agent
      </button>
    </form>
  );
}

export function AgentDetail({ id }: { id: string }) {
  const enc = encodeURIComponent(id);
  const agent = useLoad(() => api(`/api/v1/agents/${enc}`), [id]);
  // No total: an agent may hold a million tokens; the dry run counts them.
  const tokens = useCursorList(`/api/v1/agents/${enc}/tokens`);
  const events = useCursorList("/api/v1/audit-logs", { actor_id: id }, { pageSize: 20 });
  const [dialog, setDialog] = useState<"revoke" | "secret" | "dpop" | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const a = agent.data;
  const reload = () => (agent.reload(), tokens.reload(), events.reload());
  return (
    <section>
      <p>
        <Link to="/admin/agents">← Agents</Link>
      </p>
      <ErrorNote error={agent.error} />
      {a && (
        <>
          <div className="head">
            <h1>{a.name || a.id}</h1>
            <Badge kind={a.status === "active" ? "good" : "bad"}>{a.status}</Badge>
          </div>
          <Done note={note} />
          {secret && <SecretOnce label="New client secret" value={secret} onDismiss={() => setSecret(null)} />}
          <div className="actions wrap">
            <button className="danger" onClick={() => setDialog("revoke")}>
              Revoke all tokens
            </button>
            <button onClick={() => setDialog("secret")}>Rotate secret</button>
            <button onClick={() => setDialog("dpop")}>Rotate DPoP key</button>
          </div>
          <dl className="facts">
            <dt>Client ID</dt>
            <dd>
              <code>{a.client_id}</code>
            </dd>
            <dt>Application</dt>
            <dd>{a.app_id ? <code>{a.app_id}</code> : "—"}</dd>
            <dt>Created by</dt>
            <dd>{a.created_by ? <Link to={`/admin/users/${a.created_by}`}>{a.created_by}</Link> : "—"}</dd>
            <dt>Scopes</dt>
            <dd>{(a.scopes ?? []).join(" ") || "—"}</dd>
            <dt>DPoP key (jkt)</dt>
            <dd>{a.dpop_jkt ? <code>{a.dpop_jkt}</code> : "not pinned"}</dd>
            <dt>Grant types</dt>
            <dd>{(a.grant_types ?? []).join(", ")}</dd>
          </dl>
        </>
      )}
      <h2>Live tokens</h2>
      <ErrorNote error={tokens.error} />
      <DataTable columns={TOKEN_COLUMNS} list={tokens} rowKey="token_id" label="live tokens" empty="No live tokens." />
      <h2>Its audit events</h2>
      <EventTable list={events} />
      {dialog === "revoke" && a && (
        <Confirm
          title={`Revoke every token of ${a.name || a.id}?`}
          what={
            <p>
              Revokes all of this agent's live access and refresh tokens, and every token derived from them by
              exchange. The agent stays active and can get new tokens.
            </p>
          }
          path={`/api/v1/agents/${enc}/tokens/revoke-all`}
          route="/api/v1/agents/{id}/tokens/revoke-all"
          body={{}}
          onClose={() => setDialog(null)}
          onDone={(r) => {
            setDialog(null);
            setNote(`Revoked ${r?.revoked_count ?? 0} tokens.`);
            reload();
          }}
        />
      )}
      {dialog === "secret" && a && (
        <RotateSecret
          id={id}
          onClose={() => setDialog(null)}
          onDone={(s) => {
            setDialog(null);
            setSecret(s);
            reload();
          }}
        />
      )}
      {dialog === "dpop" && a && (
        <RotateDpop
          id={id}
          onClose={() => setDialog(null)}
          onDone={(r) => {
            setDialog(null);
            setNote(`DPoP key is now ${r.new_jkt}; ${r.revoked_count ?? 0} tokens bound to the old key revoked.`);
            reload();
          }}
        />
      )}
    </section>
  );
}

function RotateSecret({ id, onClose, onDone }: { id: string; onClose: () => void; onDone: (s: string) => void }) {
  const [grace, setGrace] = useState("0");
  return (
    <Confirm
      title="Rotate the client secret?"
      what={
        <>
          <p>A new secret is made and shown once. The old one stops working after the grace period.</p>
          <Field label="Grace period (seconds)">
            <input type="number" min={0} max={604800} value={grace} onChange={(e) => setGrace(e.target.value)} />
          </Field>
        </>
      }
      path={`/api/v1/agents/${encodeURIComponent(id)}/rotate-secret`}
      body={{ grace_period_seconds: Number(grace) || 0 }}
      confirmLabel="Rotate"
      onClose={onClose}
      onDone={(r) => onDone(r.client_secret)}
    />
  );
}

function RotateDpop({ id, onClose, onDone }: { id: string; onClose: () => void; onDone: (r: any) => void }) {
  const [jwk, setJwk] = useState("");
  async function run() {
    let key: unknown;
    try {
      key = JSON.parse(jwk);
    } catch {
      throw new Error("The key must be a JSON Web Key (a JSON object).");
    }
    return api(`/api/v1/agents/${encodeURIComponent(id)}/rotate-dpop-key`, {
      method: "POST",
      body: { new_public_key_jwk: key },
    });
  }
  return (
    <Confirm
      title="Rotate the DPoP key?"
      what={
        <>
          <p>Pins the agent to a new public key. Tokens bound to the old key are revoked.</p>
          <Field label="New public key (JWK)">
            <textarea rows={6} value={jwk} onChange={(e) => setJwk(e.target.value)} spellCheck={false} />
          </Field>
        </>
      }
      run={run}
      ready={jwk.trim() !== ""}
      confirmLabel="Rotate and revoke"
      onClose={onClose}
      onDone={onDone}
    />
  );
}
