import { FormEvent, useState } from "react";
import { api } from "../api";
import { Badge, Confirm, ErrorNote, Field, Link, SecretOnce, splitList, usePaged, useLoad, When } from "../components";

export function Webhooks() {
  const list = usePaged("/api/v1/admin/webhooks", {});
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
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">URL</th>
              <th scope="col">Events</th>
              <th scope="col">State</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {list.rows.map((h) => (
              <tr key={h.id}>
                <td data-label="URL">
                  <Link to={`/admin/webhooks/${encodeURIComponent(h.id)}`}>{h.url}</Link>
                </td>
                <td data-label="Events">{(h.events ?? []).join(", ")}</td>
                <td data-label="State">
                  {h.failing_since ? (
                    <Badge kind="bad">failing</Badge>
                  ) : h.enabled ? (
                    <Badge kind="good">enabled</Badge>
                  ) : (
                    <Badge>disabled</Badge>
                  )}
                </td>
                <td data-label="Created">
                  <When at={h.created_at} />
                </td>
              </tr>
            ))}
            {list.rows.length === 0 && !list.loading && (
              <tr>
                <td colSpan={4} className="muted">
                  No endpoints.
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
  const deliveries = usePaged(`/api/v1/admin/webhooks/${enc}/deliveries`, {});
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
          {note && (
            <p className="ok" role="status">
              {note}
            </p>
          )}
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
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Event</th>
              <th scope="col">Status</th>
              <th scope="col">Attempts</th>
              <th scope="col">
                <span className="sr">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {deliveries.rows.map((d) => (
              <tr key={d.id}>
                <td data-label="When">
                  <When at={d.created_at} />
                </td>
                <td data-label="Event">
                  <code>{d.event ?? d.event_type}</code>
                </td>
                <td data-label="Status">
                  <Badge kind={d.status === "delivered" ? "good" : d.status === "failed" ? "bad" : ""}>
                    {d.status}
                  </Badge>{" "}
                  {d.response_status ?? d.last_status ?? ""}
                </td>
                <td data-label="Attempts">{d.attempts ?? d.attempt ?? "—"}</td>
                <td className="row-actions">
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
                </td>
              </tr>
            ))}
            {deliveries.rows.length === 0 && (
              <tr>
                <td colSpan={5} className="muted">
                  No deliveries yet.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      {deliveries.pager}
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
