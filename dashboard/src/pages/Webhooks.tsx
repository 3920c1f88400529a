import { FormEvent, useState } from "react";
import { api } from "../api";
import { Badge, Confirm, Done, ErrorNote, Field, Link, SecretOnce, splitList, useLoad, When } from "../components";
import { DataTable, useCursorList } from "../list";

export function Webhooks() {
  const list = useCursorList("/api/v1/admin/webhooks");
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<string | null>(null);
  return (
    <section>
      <div className="head">
        <h1>Webhooks</h1>
        <button className="primary" onClick={() => setCreating(!creating)} aria-expanded={creating}>
          Add endpoint
        </button>
      </div>
      {secret && <SecretOnce label="Signing secret" value={secret} onDismiss={() => setSecret(null)} />}
      {creating && (
        <NewHook
          onDone={(h) => {
            setCreating(false);
            setSecret(h.secret);
            list.reload();
          }}
        />
      )}
      <ErrorNote error={list.error} />
      <DataTable
        list={list}
        label="endpoints"
        empty="No endpoints."
        columns={[
          {
            key: "url",
            label: "URL",
            render: (h) => <Link to={`/admin/webhooks/${encodeURIComponent(h.id)}`}>{h.url}</Link>,
          },
          { key: "events", label: "Events", render: (h) => (h.events ?? []).join(", ") },
          {
            key: "state",
            label: "State",
            render: (h) =>
              h.failing_since ? (
                <Badge kind="bad">failing</Badge>
              ) : h.enabled ? (
                <Badge kind="good">enabled</Badge>
              ) : (
                <Badge>disabled</Badge>
              ),
          },
          { key: "created_at", label: "Created", render: (h) => <When at={h.created_at} /> },
        ]}
      />
    </section>
  );
}

function NewHook({ onDone }: { onDone: (h: any) => void }) {
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState("oauth.*");
  const [desc, setDesc] = useState("");
  const [error, setError] = useState<Error | null>(null);
  async function submit(e: FormEvent) {
    e.preventDefault();
    try {
      onDone(
        await api("/api/v1/admin/webhooks", {
          method: "POST",
          body: { url, events: splitList(events), description: desc },
        }),
      );
    } catch (err) {
      setError(err as Error);
    }
  }
  return (
    <form className="panel" onSubmit={submit}>
      <h2>Add endpoint</h2>
      <Field label="URL">
        <input type="url" value={url} onChange={(e) => setUrl(e.target.value)} required />
      </Field>
      <Field label="Events" hint="names or prefixes such as oauth.*, space separated">
        <input value={events} onChange={(e) => setEvents(e.target.value)} required />
      </Field>
      <Field label="Description">
        <input value={desc} onChange={(e) => setDesc(e.target.value)} />
      </Field>
      <ErrorNote error={error} />
      <button type="submit" className="primary">
        Add endpoint
      </button>
    </form>
  );
}

export function WebhookDetail({ id }: { id: string }) {
  const enc = encodeURIComponent(id);
  const hook = useLoad(() => api(`/api/v1/admin/webhooks/${enc}`), [id]);
  const deliveries = useCursorList(`/api/v1/admin/webhooks/${enc}/deliveries`);
  const [secret, setSecret] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [dialog, setDialog] = useState<"rotate" | "delete" | null>(null);
  const h = hook.data;
  async function act(f: () => Promise<any>, ok: string) {
    setError(null);
    try {
      await f();
      setNote(ok);
      deliveries.reload();
      hook.reload();
    } catch (e) {
      setError(e as Error);
    }
  }
  return (
    <section>
      <p>
        <Link to="/admin/webhooks">← Webhooks</Link>
      </p>
      <ErrorNote error={hook.error} />
      {h && (
        <>
          <h1 className="wrap-anywhere">{h.url}</h1>
          <Done note={note} />
          {secret && <SecretOnce label="New signing secret" value={secret} onDismiss={() => setSecret(null)} />}
          <ErrorNote error={error} />
          <div className="actions wrap">
            <button
              onClick={() =>
                act(() => api(`/api/v1/admin/webhooks/${enc}/test`, { method: "POST", body: {} }), "Test event queued.")
              }
            >
              Send test event
            </button>
            <button
              onClick={() =>
                act(
                  () => api(`/api/v1/admin/webhooks/${enc}`, { method: "PATCH", body: { enabled: !h.enabled } }),
                  h.enabled ? "Disabled." : "Enabled.",
                )
              }
            >
              {h.enabled ? "Disable" : "Enable"}
            </button>
            <button onClick={() => setDialog("rotate")}>Rotate secret</button>
            <button className="danger" onClick={() => setDialog("delete")}>
              Delete
            </button>
          </div>
          <dl className="facts">
            <dt>Events</dt>
            <dd>{(h.events ?? []).join(", ")}</dd>
            <dt>Failing since</dt>
            <dd>
              <When at={h.failing_since} />
            </dd>
            <dt>Description</dt>
            <dd>{h.description || "—"}</dd>
          </dl>
        </>
      )}
      <h2>Deliveries</h2>
      <ErrorNote error={deliveries.error} />
      <DataTable
        list={deliveries}
        label="deliveries"
        empty="No deliveries yet."
        columns={[
          { key: "created_at", label: "When", render: (d) => <When at={d.created_at} /> },
          { key: "event", label: "Event", render: (d) => <code>{d.event ?? d.event_type}</code> },
          {
            key: "status",
            label: "Status",
            render: (d) => (
              <>
                <Badge kind={d.status === "delivered" ? "good" : d.status === "failed" ? "bad" : ""}>{d.status}</Badge>{" "}
                {d.response_status ?? d.last_status ?? ""}
              </>
            ),
          },
          { key: "attempts", label: "Attempts", render: (d) => d.attempts ?? d.attempt ?? "—" },
          {
            key: "actions",
            label: "Actions",
            actions: true,
            render: (d) => (
              <button
                onClick={() =>
                  act(
                    () =>
                      api(`/api/v1/admin/webhooks/deliveries/${encodeURIComponent(d.id)}/redeliver`, {
                        method: "POST",
                        body: {},
                      }),
                    "Redelivery queued.",
                  )
                }
              >
                Redeliver
              </button>
            ),
          },
        ]}
      />
      {dialog === "rotate" && (
        <Confirm
          title="Rotate the signing secret?"
          what={<p>Deliveries are signed with a new secret from now on; receivers must be given it.</p>}
          path={`/api/v1/admin/webhooks/${enc}/rotate-secret`}
          route="/api/v1/admin/webhooks/{id}/rotate-secret"
          body={{}}
          confirmLabel="Rotate"
          onClose={() => setDialog(null)}
          onDone={(r) => {
            setDialog(null);
            setSecret(r?.secret ?? null);
          }}
        />
      )}
      {dialog === "delete" && (
        <Confirm
          title="Delete this endpoint?"
          what={<p>No further events are sent to it; its delivery history goes too.</p>}
          path={`/api/v1/admin/webhooks/${enc}`}
          route="/api/v1/admin/webhooks/{id}"
          method="DELETE"
          confirmLabel="Delete"
          onClose={() => setDialog(null)}
          onDone={() => history.back()}
        />
      )}
    </section>
  );
}
