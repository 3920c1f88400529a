import { FormEvent, useState } from "react";
import { api } from "../api";
import { Badge, Confirm, Done, ErrorNote, Field, Link, splitList, When } from "../components";
import { DataTable, useCursorList } from "../list";

export function Vault() {
  // A few built-in templates and the custom ones: one page holds them all.
  const providers = useCursorList("/api/v1/vault/providers", {}, { pageSize: 1000 });
  const [providerId, setProviderId] = useState("");
  const [userId, setUserId] = useState("");
  const [needsReauth, setNeedsReauth] = useState(false);
  const conns = useCursorList("/api/v1/vault/connections", {
    provider_id: providerId,
    user_id: userId,
    needs_reauth: needsReauth ? true : undefined,
  });
  const [adding, setAdding] = useState(false);
  const [disconnect, setDisconnect] = useState<any>(null);
  const [cascade, setCascade] = useState(true);
  const [note, setNote] = useState<string | null>(null);
  return (
    <section>
      <h1>Vault</h1>
      <Done note={note} />
      <h2>Connections</h2>
      <div className="filters">
        <Field label="Provider">
          <select value={providerId} onChange={(e) => setProviderId(e.target.value)}>
            <option value="">any</option>
            {providers.rows.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        </Field>
        <Field label="User ID">
          <input value={userId} onChange={(e) => setUserId(e.target.value.trim())} placeholder="usr_…" />
        </Field>
        <label className="toggle">
          <input type="checkbox" checked={needsReauth} onChange={(e) => setNeedsReauth(e.target.checked)} /> Only
          needing re-authorization
        </label>
      </div>
      <ErrorNote error={conns.error} />
      <DataTable
        list={conns}
        label="connections"
        empty={needsReauth ? "No connection needs re-authorization." : "No connections."}
        columns={[
          { key: "provider_id", label: "Provider" },
          {
            key: "user_id",
            label: "User",
            render: (c) => <Link to={`/admin/users/${encodeURIComponent(c.user_id)}`}>{c.user_id}</Link>,
          },
          { key: "scopes", label: "Scopes" },
          {
            key: "state",
            label: "State",
            render: (c) =>
              c.needs_reauth ? <Badge kind="bad">needs re-auth</Badge> : <Badge kind="good">connected</Badge>,
          },
          { key: "created_at", label: "Connected", render: (c) => <When at={c.created_at} /> },
          {
            key: "actions",
            label: "Actions",
            actions: true,
            render: (c) => (
              <button className="danger" onClick={() => (setCascade(true), setDisconnect(c))}>
                Disconnect
              </button>
            ),
          },
        ]}
      />
      <div className="head">
        <h2>Providers</h2>
        <button onClick={() => setAdding(!adding)} aria-expanded={adding}>
          Add custom provider
        </button>
      </div>
      {adding && <NewProvider onDone={() => (setAdding(false), providers.reload())} />}
      <ErrorNote error={providers.error} />
      <DataTable
        list={providers}
        label="providers"
        columns={[
          { key: "name", label: "Name" },
          { key: "id", label: "ID", render: (p) => <code>{p.id}</code> },
          { key: "builtin", label: "Kind", render: (p) => (p.builtin ? "built-in" : <Badge>custom</Badge>) },
          {
            key: "client_id",
            label: "Client",
            render: (p) => (p.client_id ? <code>{p.client_id}</code> : <span className="muted">not configured</span>),
          },
          { key: "token_url", label: "Token URL", className: "wrap-anywhere" },
        ]}
      />
      {disconnect && (
        <Confirm
          title={`Disconnect ${disconnect.provider_id} for ${disconnect.user_id}?`}
          what={
            <>
              <p>Deletes the stored provider tokens and revokes them at the provider when it can.</p>
              <label className="toggle">
                <input
                  type="checkbox"
                  checked={cascade}
                  onChange={(e) => setCascade(e.target.checked)}
                  name="cascade_to_agents"
                />{" "}
                Also revoke the tokens of every agent that fetched from this connection (cascade)
              </label>
            </>
          }
          path={`/api/v1/vault/connections/${encodeURIComponent(disconnect.id)}`}
          route="/api/v1/vault/connections/{id}"
          method="DELETE"
          query={{ cascade_to_agents: cascade }}
          confirmLabel="Disconnect"
          onClose={() => setDisconnect(null)}
          onDone={(r) => {
            setDisconnect(null);
            setNote(
              `Disconnected. ${r?.revoked_agent_ids?.length ?? 0} agents and ${r?.revoked_token_count ?? 0} tokens revoked.`,
            );
            conns.reload();
          }}
        />
      )}
    </section>
  );
}

function NewProvider({ onDone }: { onDone: () => void }) {
  const [f, setF] = useState({ id: "", name: "", authorize_url: "", token_url: "", revoke_url: "", client_id: "", client_secret: "", scopes: "" });
  const [error, setError] = useState<Error | null>(null);
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  async function submit(e: FormEvent) {
    e.preventDefault();
    const body: Record<string, unknown> = { ...f, scopes: splitList(f.scopes) };
    for (const k of ["revoke_url", "client_id", "client_secret"]) if (!body[k]) delete body[k];
    try {
      await api("/api/v1/vault/providers", { method: "POST", body });
      onDone();
    } catch (err) {
      setError(err as Error);
    }
  }
  return (
    <form className="panel grid2" onSubmit={submit}>
      <Field label="ID (slug)">
        <input value={f.id} onChange={set("id")} required pattern="[a-z0-9_\-]+" />
      </Field>
      <Field label="Name">
        <input value={f.name} onChange={set("name")} required />
      </Field>
      <Field label="Authorize URL">
        <input type="url" value={f.authorize_url} onChange={set("authorize_url")} required />
      </Field>
      <Field label="Token URL">
        <input type="url" value={f.token_url} onChange={set("token_url")} required />
      </Field>
      <Field label="Revoke URL">
        <input type="url" value={f.revoke_url} onChange={set("revoke_url")} />
      </Field>
      <Field label="Scopes">
        <input value={f.scopes} onChange={set("scopes")} />
      </Field>
      <Field label="Client ID">
        <input value={f.client_id} onChange={set("client_id")} />
      </Field>
      <Field label="Client secret" hint="sealed at rest; never shown again">
        <input type="password" value={f.client_secret} onChange={set("client_secret")} autoComplete="off" />
      </Field>
      <ErrorNote error={error} />
      <button type="submit" className="primary">
        Add provider
      </button>
    </form>
  );
}
