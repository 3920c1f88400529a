import { useEffect, useRef, useState } from "react";
import { api, apiText, rowsOf } from "../api";
import { ErrorNote, Field, Link, When } from "../components";

const TOKEN_EVENT = /^oauth\.token_(issued|exchanged|refreshed|revoked)$/;

export function EventTable({ rows, fresh }: { rows: any[]; fresh?: Set<string> }) {
  return (
    <div className="table-wrap">
      <table className="events">
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Event</th>
            <th scope="col">Actor</th>
            <th scope="col">Target</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((e) => (
            <tr key={e.id} className={fresh?.has(e.id) ? "fresh" : ""}>
              <td data-label="When">
                <When at={e.created_at} />
              </td>
              <td data-label="Event">
                <code>{e.event}</code>
              </td>
              <td data-label="Actor">
                {e.actor_type}
                {e.actor_id && e.actor_id !== e.actor_type && (
                  <>
                    {" "}
                    <code>{e.actor_id}</code>
                  </>
                )}
              </td>
              <td data-label="Target">
                {e.target_id ? <code>{e.target_id}</code> : <span className="muted">—</span>}
                {TOKEN_EVENT.test(e.event) && e.target_id && (
                  <>
                    {" "}
                    <Link to={`/admin/tokens/${encodeURIComponent(e.target_id)}/chain`}>delegation</Link>
                  </>
                )}
              </td>
              <td data-label="Details" className="meta">
                {e.metadata && Object.keys(e.metadata).length > 0 ? (
                  <code>{JSON.stringify(e.metadata)}</code>
                ) : (
                  <span className="muted">—</span>
                )}
              </td>
            </tr>
          ))}
          {rows.length === 0 && (
            <tr>
              <td colSpan={5} className="muted">
                No events.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

type Filters = { actor_id: string; target_id: string; event: string; since: string; until: string };
const EMPTY: Filters = { actor_id: "", target_id: "", event: "", since: "", until: "" };

function iso(local: string) {
  // <input type="datetime-local"> gives local time without a zone.
  if (!local) return "";
  const d = new Date(local);
  return isNaN(d.getTime()) ? "" : d.toISOString();
}

export function Audit() {
  const initial = { ...EMPTY };
  const qs = new URLSearchParams(location.search);
  for (const k of Object.keys(EMPTY) as (keyof Filters)[]) initial[k] = qs.get(k) ?? "";
  const [draft, setDraft] = useState<Filters>(initial);
  const [filters, setFilters] = useState<Filters>(initial);
  const [cursors, setCursors] = useState<(string | null)[]>([null]); // a stack: back pops
  const [page, setPage] = useState<{ rows: any[]; next: string | null }>({ rows: [], next: null });
  const [error, setError] = useState<Error | null>(null);
  const [tail, setTail] = useState(false);
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const [exporting, setExporting] = useState(false);
  const cursor = cursors[cursors.length - 1];
  const query = { ...filters, since: iso(filters.since), until: iso(filters.until) };

  useEffect(() => {
    let live = true;
    api("/api/v1/audit-logs", { query: { ...query, limit: 50, cursor } }).then(
      (r) => live && (setPage({ rows: rowsOf(r), next: r.next_cursor ?? null }), setError(null)),
      (e) => live && setError(e),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [JSON.stringify(filters), cursor]);

  // Live tail: poll for events at or after the newest one shown (the
  // `since` filter is the cursor), every 2 s, only on the first page.
  const newest = useRef<string | null>(null);
  newest.current = page.rows[0]?.created_at ?? newest.current;
  useEffect(() => {
    if (!tail || cursors.length > 1) return;
    const t = setInterval(async () => {
      try {
        const r = await api("/api/v1/audit-logs", {
          query: { ...query, since: newest.current ?? query.since, limit: 200 },
        });
        setPage((p) => {
          const have = new Set(p.rows.map((x) => x.id));
          const add = rowsOf(r).filter((x) => !have.has(x.id));
          if (add.length === 0) return p;
          setFresh(new Set(add.map((x) => x.id)));
          return { ...p, rows: [...add, ...p.rows].slice(0, 500) };
        });
      } catch (e) {
        setError(e as Error);
      }
    }, 2000);
    return () => clearInterval(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [tail, cursors.length, JSON.stringify(filters)]);

  async function exportCsv() {
    setExporting(true);
    try {
      const parts: string[] = [];
      let next: string | null = null;
      do {
        const { text, headers } = await apiText("/api/v1/audit-logs/export", {
          query: { ...query, cursor: next },
        });
        parts.push(parts.length ? text.slice(text.indexOf("\n") + 1) : text);
        next = headers.get("X-Next-Cursor");
      } while (next && parts.length < 50);
      const href = URL.createObjectURL(new Blob(parts, { type: "text/csv" }));
      const a = document.createElement("a");
      a.href = href;
      a.download = "audit-log.csv";
      a.click();
      setTimeout(() => URL.revokeObjectURL(href), 10000);
    } catch (e) {
      setError(e as Error);
    } finally {
      setExporting(false);
    }
  }

  return (
    <section>
      <div className="head">
        <h1>Audit log</h1>
        <div className="actions">
          <label className="toggle">
            <input type="checkbox" checked={tail} onChange={(e) => setTail(e.target.checked)} name="live_tail" /> Live
            tail
          </label>
          <button onClick={exportCsv} disabled={exporting}>
            {exporting ? "Exporting…" : "Export CSV"}
          </button>
        </div>
      </div>
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setFilters(draft);
          setCursors([null]);
        }}
      >
        <Field label="Event" hint="exact, or a prefix like oauth.*">
          <input value={draft.event} onChange={(e) => setDraft({ ...draft, event: e.target.value })} name="event" />
        </Field>
        <Field label="Actor ID">
          <input value={draft.actor_id} onChange={(e) => setDraft({ ...draft, actor_id: e.target.value })} />
        </Field>
        <Field label="Target ID">
          <input value={draft.target_id} onChange={(e) => setDraft({ ...draft, target_id: e.target.value })} />
        </Field>
        <Field label="Since">
          <input
            type="datetime-local"
            value={draft.since}
            onChange={(e) => setDraft({ ...draft, since: e.target.value })}
          />
        </Field>
        <Field label="Until">
          <input
            type="datetime-local"
            value={draft.until}
            onChange={(e) => setDraft({ ...draft, until: e.target.value })}
          />
        </Field>
        <div className="actions">
          <button type="submit" className="primary">
            Filter
          </button>
          <button
            type="button"
            onClick={() => {
              setDraft(EMPTY);
              setFilters(EMPTY);
              setCursors([null]);
            }}
          >
            Clear
          </button>
        </div>
      </form>
      <ErrorNote error={error} />
      <EventTable rows={page.rows} fresh={fresh} />
      <nav className="pager" aria-label="pages">
        <button onClick={() => setCursors(cursors.slice(0, -1))} disabled={cursors.length === 1}>
          ← Newer
        </button>
        <span className="muted">page {cursors.length}</span>
        <button onClick={() => page.next && setCursors([...cursors, page.next])} disabled={!page.next}>
          Older →
        </button>
      </nav>
    </section>
  );
}
