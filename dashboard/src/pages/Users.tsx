import { useState } from "react";
import { api } from "../api";
import { Badge, Confirm, Done, ErrorNote, Field, Link, useLoad, When } from "../components";
import { DataTable, useCursorList } from "../list";

export function Users() {
  const [email, setEmail] = useState("");
  const list = useCursorList("/api/v1/users", { email });
  return (
    <section>
      <h1>Users</h1>
      <div className="filters">
        <Field label="Email">
          <input value={email} onChange={(e) => setEmail(e.target.value.trim())} type="search" />
        </Field>
      </div>
      <ErrorNote error={list.error} />
      <DataTable
        list={list}
        label="users"
        empty="No users match."
        columns={[
          {
            key: "email",
            label: "Email",
            render: (u) => <Link to={`/admin/users/${encodeURIComponent(u.id)}`}>{u.email}</Link>,
          },
          { key: "name", label: "Name" },
          { key: "email_verified", label: "Verified", render: (u) => (u.email_verified ? "yes" : "no") },
          { key: "created_at", label: "Created", render: (u) => <When at={u.created_at} /> },
        ]}
      />
    </section>
  );
}

export function UserDetail({ id }: { id: string }) {
  const enc = encodeURIComponent(id);
  const user = useLoad(() => api(`/api/v1/users/${enc}`), [id]);
  const [filter, setFilter] = useState("all");
  const agents = useCursorList(`/api/v1/users/${enc}/agents`, { filter });
  const consents = useCursorList(`/api/v1/users/${enc}/consents`);
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
      <Done note={note} />
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
      <DataTable
        list={agents}
        label="their agents"
        rowKey={(a) => a.id ?? a.client_id}
        empty="None."
        columns={[
          {
            key: "name",
            label: "Agent",
            render: (a) => (
              <Link to={`/admin/agents/${encodeURIComponent(a.id ?? a.client_id)}`}>{a.name || a.id}</Link>
            ),
          },
          {
            key: "status",
            label: "Status",
            render: (a) => <Badge kind={a.status === "active" ? "good" : "bad"}>{a.status}</Badge>,
          },
          { key: "scopes", label: "Scopes" },
        ]}
      />
      <h2>Consents</h2>
      <ErrorNote error={consents.error} />
      <DataTable
        list={consents}
        label="consents"
        empty="No consents."
        columns={[
          { key: "client_id", label: "Client", render: (c) => <code>{c.client_id}</code> },
          { key: "scopes", label: "Scopes" },
          { key: "created_at", label: "Granted", render: (c) => <When at={c.created_at} /> },
          {
            key: "actions",
            label: "Actions",
            actions: true,
            render: (c) =>
              c.revoked_at ? (
                <Badge kind="bad">revoked</Badge>
              ) : (
                <button className="danger" onClick={() => setDialog({ kind: "consent", c })}>
                  Revoke
                </button>
              ),
          },
        ]}
      />
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
            setNote(
              `Revoked ${r?.revoked_agent_ids?.length ?? 0} agents and ${r?.revoked_consent_count ?? 0} consents.`,
            );
            agents.reload();
            consents.reload();
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
