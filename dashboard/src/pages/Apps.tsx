import { FormEvent, useState } from "react";
import { api } from "../api";
import { Confirm, ErrorNote, Field, Link, splitList, When } from "../components";
import { DataTable, useCursorList } from "../list";

export function Apps() {
  const list = useCursorList("/api/v1/apps");
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<any>(null);
  return (
    <section>
      <div className="head">
        <h1>Applications</h1>
        <button className="primary" onClick={() => setCreating(!creating)} aria-expanded={creating}>
          New application
        </button>
      </div>
      {creating && <NewApp onDone={() => (setCreating(false), list.reload())} />}
      <ErrorNote error={list.error} />
      <DataTable
        list={list}
        label="applications"
        empty="No applications yet."
        columns={[
          { key: "name", label: "Name" },
          { key: "id", label: "Application ID", render: (a) => <code>{a.id}</code> },
          { key: "scopes", label: "Scopes" },
          { key: "created_at", label: "Created", render: (a) => <When at={a.created_at} /> },
          {
            key: "actions",
            label: "Actions",
            actions: true,
            render: (a) => (
              <>
                <Link to={`/admin/agents?app_id=${encodeURIComponent(a.id)}`}>Agents</Link>
                <button className="danger" onClick={() => setDeleting(a)}>
                  Delete
                </button>
              </>
            ),
          },
        ]}
      />
      {deleting && (
        <Confirm
          title={`Delete ${deleting.name}?`}
          what={
            <p>
              Deletes application <code>{deleting.id}</code>. With agents, it disables them and revokes their tokens
              (cascade).
            </p>
          }
          path={`/api/v1/apps/${encodeURIComponent(deleting.id)}`}
          route="/api/v1/apps/{id}"
          method="DELETE"
          query={{ cascade: true }}
          confirmLabel="Delete"
          onClose={() => setDeleting(null)}
          onDone={() => (setDeleting(null), list.reload())}
        />
      )}
    </section>
  );
}

function NewApp({ onDone }: { onDone: () => void }) {
  const [name, setName] = useState("");
  const [desc, setDesc] = useState("");
  const [scopes, setScopes] = useState("");
  const [error, setError] = useState<Error | null>(null);
  async function submit(e: FormEvent) {
    e.preventDefault();
    try {
      await api("/api/v1/apps", { method: "POST", body: { name, description: desc, scopes: splitList(scopes) } });
      onDone();
    } catch (err) {
      setError(err as Error);
    }
  }
  return (
    <form className="panel" onSubmit={submit}>
      <h2>New application</h2>
      <Field label="Name">
        <input value={name} onChange={(e) => setName(e.target.value)} required autoFocus name="app_name" />
      </Field>
      <Field label="Description">
        <input value={desc} onChange={(e) => setDesc(e.target.value)} />
      </Field>
      <Field label="Scopes its agents may be given" hint="space or comma separated">
        <input value={scopes} onChange={(e) => setScopes(e.target.value)} name="app_scopes" />
      </Field>
      <ErrorNote error={error} />
      <button type="submit" className="primary">
        Create application
      </button>
    </form>
  );
}
