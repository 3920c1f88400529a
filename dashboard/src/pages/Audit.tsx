import { useEffect, useRef, useState } from "react";
import { api, apiText, rowsOf } from "../api";
import { ErrorNote, Field, Link, When } from "../components";
import { Column, CursorList, DataTable, useCursorList } from "../list";

const TOKEN_EVENT = /^oauth\.token_(issued|exchanged|refreshed|revoked)$/;

const EVENT_COLUMNS: Column<any>[] = [
  { key: "created_at", label: "When", render: (e) => <When at={e.created_at} /> },
  { key: "event", label: "Event", render: (e) => <code>{e.event}</code> },
  {
    key: "actor",
    label: "Actor",
    render: (e) => (
      <>
        {e.actor_type}
        {e.actor_id && e.actor_id !== e.actor_type && (
          <>
            {" "}
            <code>{e.actor_id}</code>
          </>
        )}
      </>
    ),
  },
  {
    key: "target",
    label: "Target",
    render: (e) => (
      <>
        {e.target_id ? <code>{e.target_id}</code> : <span className="muted">—</span>}
        {TOKEN_EVENT.test(e.event) && e.target_id && (
          <>
            {" "}
            <Link to={`/admin/tokens/${encodeURIComponent(e.target_id)}/chain`}>delegation</Link>
          </>
        )}
      </>
    ),
  },
  {
    key: "metadata",
    label: "Details",
    className: "meta",
    render: (e) =>
      e.metadata && Object.keys(e.metadata).length > 0 ? (
        <code>{JSON.stringify(e.metadata)}</code>
      ) : (
        <span className="muted">—</span>
      ),
  },
];

export function EventTable({ rows, list, fresh }: { rows?: any[]; list?: CursorList; fresh?: Set<string> }) {
  return (
    <DataTable
      className="events"
      label="audit events"
      columns={EVENT_COLUMNS}
      rows={rows}
      list={list}
      empty="No events."
      rowClass={(e) => (fresh?.has(e.id) ? "fresh" : "")}
    />
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
  const [tail, setTail] = useState(false);
  const [exporting, setExporting] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const query = { ...filters, since: iso(filters.since), until: iso(filters.until) };
  const list = useCursorList("/api/v1/audit-logs", query);

  // Live tail: poll for events at or after the newest one shown (the
  // `since` filter is the cursor), every 2 s, only on the first page. What
  // it finds goes above the page, at most 500 rows in all.
  const [tailed, setTailed] = useState<any[]>([]);
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  useEffect(() => setTailed([]), [JSON.stringify(filters), list.pageNumber, list.answer]);
  const shown = [...tailed, ...list.rows.filter((x) => !tailed.some((t) => t.id === x.id))].slice(0, 500);
  const newest = useRef<string | null>(null);
  newest.current = shown[0]?.created_at ?? newest.current;
  const have = useRef<Set<string>>(new Set());
  have.current = new Set(shown.map((x) => x.id));
  useEffect(() => {
    if (!tail || list.pageNumber > 1) return;
    const t = setInterval(async () => {
      try {
        const r = await api("/api/v1/audit-logs", {
          query: { ...query, since: newest.current ?? query.since, limit: 200 },
        });
        const add = rowsOf(r).filter((x) => !have.current.has(x.id));
        if (add.length === 0) return;
        setFresh(new Set(add.map((x) => x.id)));
        setTailed((p) => [...add, ...p].slice(0, 500));
      } catch (e) {
        setError(e as Error);
      }
    }, 2000);
    return () => clearInterval(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [tail, list.pageNumber, JSON.stringify(filters)]);

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
            }}
          >
            Clear
          </button>
        </div>
      </form>
      <ErrorNote error={error ?? list.error} />
      <EventTable rows={shown} list={list} fresh={fresh} />
    </section>
  );
}
