import { useState } from "react";
import { api, rowsOf } from "../api";
import { Badge, Confirm, ErrorNote, Field, Link, usePaged, useLoad, When } from "../components";

export function Users() {
  const [email, setEmail] = useState("");
  const list = usePaged("/api/v1/users", { email });
  return (
    <section>
      <h1>Users</h1>
      <div className="filters">
        <Field label="Email">
          <input value={email} onChange={(e) => setEmail(e.target.value.trim())} type="search" />
        </Field>
      </div>
      <ErrorNote error={list.error} />
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col">Name</th>
              <th scope="col">Verified</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {list.rows.map((u) => (
              <tr key={u.id}>
                <td data-label="Email">
                  <Link to={`/admin/users/${encodeURIComponent(u.id)}`}>{u.email}</Link>
                </td>
                <td data-label="Name">{u.name || "—"}</td>
                <td data-label="Verified">{u.email_verified ? "yes" : "no"}</td>
                <td data-label="Created">
                  <When at={u.created_at} />
                </td>
              </tr>
            ))}
            {list.rows.length === 0 && !list.loading && (
              <tr>
                <td colSpan={4} className="muted">
                  No users match.
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

export function UserDetail({ id }: { id: string }) {
  const enc = encodeURIComponent(id);
  const user = useLoad(() => api(`/api/v1/users/${enc}`), [id]);
  const [filter, setFilter] = useState("all");
  const agents = usePaged(`/api/v1/users/${enc}/agents`, { filter });
  const consents = useLoad(() => api(`/api/v1/users/${enc}/consents`), [id]);
  const [dialog, setDialog] = useState<any>(null);
  const [note, setNote] = useState<string | null>(null);
  const u = user.data;
  return (
    <section>
      <p>
        <Link to="/admin/users">← Users</Link>
      </p>
      <ErrorNote error={user.error} />
      {u && (
        <div className="head">
          <h1>{u.email}</h1>
          <button className="danger" onClick={() => setDialog({ kind: "agents" })}>
            Revoke their agents
          </button>
        </div>
      )}
      {note && (
        <p className="ok" role="status">
          {note}
        </p>
      )}
      <h2>Agents</h2>
      <div className="filters">
        <Field label="Show">
          <select value={filter} onChange={(e) => setFilter(e.target.value)}>
            <option value="all">created or authorized</option>
            <option value="created">created by this user</option>
            <option value="authorized">authorized by this user</option>
          </select>
        </Field>
      </div>
      <ErrorNote error={agents.error} />
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Agent</th>
              <th scope="col">Status</th>
              <th scope="col">Scopes</th>
            </tr>
          </thead>
          <tbody>
            {agents.rows.map((a) => (
              <tr key={a.id ?? a.client_id}>
                <td data-label="Agent">
                  <Link to={`/admin/agents/${encodeURIComponent(a.id ?? a.client_id)}`}>{a.name || a.id}</Link>
                </td>
                <td data-label="Status">
                  <Badge kind={a.status === "active" ? "good" : "bad"}>{a.status}</Badge>
                </td>
                <td data-label="Scopes">{(a.scopes ?? []).join(" ")}</td>
              </tr>
            ))}
            {agents.rows.length === 0 && (
              <tr>
                <td colSpan={3} className="muted">
                  None.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      {agents.pager}
      <h2>Consents</h2>
      <ErrorNote error={consents.error} />
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Client</th>
              <th scope="col">Scopes</th>
              <th scope="col">Granted</th>
              <th scope="col">
                <span className="sr">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rowsOf(consents.data).map((c) => (
              <tr key={c.id}>
                <td data-label="Client">
                  <code>{c.client_id}</code>
                </td>
                <td data-label="Scopes">{(c.scopes ?? []).join(" ")}</td>
                <td data-label="Granted">
                  <When at={c.created_at} />
                </td>
                <td className="row-actions">
                  {c.revoked_at ? (
                    <Badge kind="bad">revoked</Badge>
                  ) : (
                    <button className="danger" onClick={() => setDialog({ kind: "consent", c })}>
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
            {rowsOf(consents.data).length === 0 && (
              <tr>
                <td colSpan={4} className="muted">
                  No consents.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      {dialog?.kind === "agents" && (
        <Confirm
          title={`Revoke every agent of ${u?.email}?`}
          what={<p>Revokes the tokens of every agent this user created or authorized, and what was derived from them.</p>}
          path={`/api/v1/users/${enc}/revoke-agents`}
          route="/api/v1/users/{id}/revoke-agents"
          body={{}}
          onClose={() => setDialog(null)}
          onDone={(r) => {
            setDialog(null);
            setNote(`Done: ${JSON.stringify(r)}`);
            agents.reload();
          }}
        />
      )}
      {dialog?.kind === "consent" && (
        <Confirm
          title="Revoke this consent?"
          what={
            <p>
              Ends <code>{dialog.c.client_id}</code>'s standing permission and the grants made under it.
            </p>
          }
          path={`/api/v1/users/${enc}/consents/${encodeURIComponent(dialog.c.id)}`}
          route="/api/v1/users/{id}/consents/{consent_id}"
          method="DELETE"
          onClose={() => setDialog(null)}
          onDone={() => {
            setDialog(null);
            consents.reload();
          }}
        />
      )}
    </section>
  );
}
