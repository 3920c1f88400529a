import { FormEvent, useState } from "react";
import { api, rowsOf } from "../api";
import {
  Badge,
  Confirm,
  ErrorNote,
  Field,
  Link,
  Modal,
  SecretOnce,
  splitList,
  usePaged,
  useLoad,
  When,
} from "../components";
import { EventTable } from "./Audit";

function queryParam(name: string) {
  return new URLSearchParams(location.search).get(name) ?? "";
}

export function Agents() {
  const [appId, setAppId] = useState(queryParam("app_id"));
  const [status, setStatus] = useState("");
  const list = usePaged("/api/v1/agents", { app_id: appId, status });
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
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Client ID</th>
              <th scope="col">Status</th>
              <th scope="col">Scopes</th>
              <th scope="col">DPoP key</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {list.rows.map((a) => (
              <tr key={a.id}>
                <td data-label="Name">
                  <Link to={`/admin/agents/${encodeURIComponent(a.id)}`}>{a.name || a.id}</Link>
                </td>
                <td data-label="Client ID">
                  <code>{a.client_id}</code>
                </td>
                <td data-label="Status">
                  <Badge kind={a.status === "active" ? "good" : "bad"}>{a.status}</Badge>
                </td>
                <td data-label="Scopes">{(a.scopes ?? []).join(" ")}</td>
                <td data-label="DPoP key">{a.dpop_jkt ? <code>{a.dpop_jkt.slice(0, 12)}…</code> : "any"}</td>
                <td data-label="Created">
                  <When at={a.created_at} />
                </td>
              </tr>
            ))}
            {list.rows.length === 0 && !list.loading && (
              <tr>
                <td colSpan={6} className="muted">
                  No agents match.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      {list.pager}
    </section>
  );
}

function NewAgent({ defaultApp, onDone }: { defaultApp: string; onDone: (a: any) => void }) {
  const apps = useLoad(() => api("/api/v1/apps", { query: { limit: 200 } }), []);
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
      <Field label="Application">
        <select value={appId} onChange={(e) => setAppId(e.target.value)} name="agent_app" required>
          <option value="">choose…</option>
          {rowsOf(apps.data).map((a) => (
            <option key={a.id} value={a.id}>
              {a.name} ({a.id})
            </option>
          ))}
        </select>
      </Field>
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
  const tokens = useLoad(() => api(`/api/v1/agents/${enc}/tokens`), [id]);
  const events = useLoad(() => api("/api/v1/audit-logs", { query: { actor_id: id, limit: 20 } }), [id]);
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
          {note && (
            <p className="ok" role="status">
              {note}
            </p>
          )}
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
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Token (jti)</th>
              <th scope="col">Scope</th>
              <th scope="col">Key</th>
              <th scope="col">Issued</th>
              <th scope="col">Expires</th>
              <th scope="col">Chain</th>
            </tr>
          </thead>
          <tbody>
            {rowsOf(tokens.data).map((t) => (
              <tr key={t.token_id}>
                <td data-label="jti">
                  <code>{t.token_id}</code>
                </td>
                <td data-label="Scope">{t.scope}</td>
                <td data-label="Key">{t.jkt ? <code>{t.jkt.slice(0, 12)}…</code> : "bearer"}</td>
                <td data-label="Issued">
                  <When at={t.created_at} />
                </td>
                <td data-label="Expires">
                  <When at={t.expires_at} />
                </td>
                <td data-label="Chain">
                  <Link to={`/admin/tokens/${encodeURIComponent(t.token_id)}/chain`}>Delegation</Link>
                </td>
              </tr>
            ))}
            {rowsOf(tokens.data).length === 0 && (
              <tr>
                <td colSpan={6} className="muted">
                  No live tokens.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <h2>Its audit events</h2>
      <EventTable rows={rowsOf(events.data)} />
      {dialog === "revoke" && a && (
        <Confirm
          title={`Revoke every token of ${a.name || a.id}?`}
          what={
            <p>
              Revokes all of this agent's live access and refresh tokens, and every token derived from them by
              exchange. It has <strong>{tokens.data?.total ?? "?"}</strong> live tokens of its own.
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
  const [error, setError] = useState<Error | null>(null);
  async function go() {
    try {
      const r = await api(`/api/v1/agents/${encodeURIComponent(id)}/rotate-secret`, {
        method: "POST",
        body: { grace_period_seconds: Number(grace) || 0 },
      });
      onDone(r.client_secret);
    } catch (e) {
      setError(e as Error);
    }
  }
  return (
    <Modal title="Rotate the client secret?" onClose={onClose}>
      <p>A new secret is made and shown once. The old one stops working after the grace period.</p>
      <Field label="Grace period (seconds)">
        <input type="number" min={0} max={604800} value={grace} onChange={(e) => setGrace(e.target.value)} />
      </Field>
      <ErrorNote error={error} />
      <div className="actions">
        <button onClick={onClose} autoFocus>
          Cancel
        </button>
        <button className="danger" onClick={go}>
          Rotate
        </button>
      </div>
    </Modal>
  );
}

function RotateDpop({ id, onClose, onDone }: { id: string; onClose: () => void; onDone: (r: any) => void }) {
  const [jwk, setJwk] = useState("");
  const [error, setError] = useState<Error | null>(null);
  async function go() {
    let key: unknown;
    try {
      key = JSON.parse(jwk);
    } catch {
      setError(new Error("The key must be a JSON Web Key (a JSON object)."));
      return;
    }
    try {
      onDone(
        await api(`/api/v1/agents/${encodeURIComponent(id)}/rotate-dpop-key`, {
          method: "POST",
          body: { new_public_key_jwk: key },
        }),
      );
    } catch (e) {
      setError(e as Error);
    }
  }
  return (
    <Modal title="Rotate the DPoP key?" onClose={onClose}>
      <p>Pins the agent to a new public key. Tokens bound to the old key are revoked.</p>
      <Field label="New public key (JWK)">
        <textarea rows={6} value={jwk} onChange={(e) => setJwk(e.target.value)} spellCheck={false} />
      </Field>
      <ErrorNote error={error} />
      <div className="actions">
        <button onClick={onClose} autoFocus>
          Cancel
        </button>
        <button className="danger" onClick={go} disabled={!jwk.trim()}>
          Rotate and revoke
        </button>
      </div>
    </Modal>
  );
}
