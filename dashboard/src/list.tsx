// Every table of the dashboard: DataTable draws one page of rows (stacked
// cards at phone width, arrow keys between rows) and useCursorList fetches
// that page by the listing contract: limit + the opaque cursor of the page
// before. The DOM holds one page whatever the size of the listing.
import { KeyboardEvent, ReactNode, useCallback, useEffect, useRef, useState } from "react";
import { api, rowsOf } from "./api";

// Where a page starts: the cursor the server issued for it (none for the
// first page), or, from a server that pages by offset only, the offset.
export type Position = { cursor?: string; offset: number };

// The position of the page after `answer` (which started at `at` and held
// `count` rows), or null when it was the last. A `next_cursor` member, even
// null, means the server pages by cursor; without one, a `total` means
// offset paging; neither means everything came at once.
export function nextPosition(answer: any, at: Position, count: number): Position | null {
  const offset = at.offset + count;
  if (answer && typeof answer === "object" && "next_cursor" in answer)
    return typeof answer.next_cursor === "string" && answer.next_cursor !== "" && count > 0
      ? { cursor: answer.next_cursor, offset }
      : null;
  if (typeof answer?.total === "number" && count > 0 && offset < answer.total) return { offset };
  return null;
}

// The query a position asks with: a cursor never goes with an offset.
export function positionQuery(at: Position): Record<string, string | number | undefined> {
  if (at.cursor !== undefined) return { cursor: at.cursor };
  return { offset: at.offset > 0 ? at.offset : undefined };
}

export type CursorList<R = any> = {
  rows: R[];
  answer?: any; // the last page's whole answer
  loading: boolean;
  error?: Error;
  reload: () => void; // the current page again
  start: number; // how many rows come before this page
  total?: number; // only when the server counted
  pageNumber: number;
  hasPrev: boolean;
  hasNext: boolean;
  prev: () => void;
  next: () => void;
};

// A listing one page at a time; back through a stack of the positions seen.
// A change of path or query starts again at the first page. `total` asks the
// server to count (total=true): only for listings that stay small.
export function useCursorList<R = any>(
  path: string,
  query: Record<string, any> = {},
  opts: { pageSize?: number; total?: boolean } = {},
): CursorList<R> {
  const pageSize = opts.pageSize ?? 50;
  const key = JSON.stringify([path, query, pageSize, opts.total]);
  const [stack, setStack] = useState<{ key: string; at: Position[] }>({ key, at: [{ offset: 0 }] });
  const at = stack.key === key ? stack.at : [{ offset: 0 }];
  const here = at[at.length - 1];
  const [n, setN] = useState(0);
  const [state, setState] = useState<{ answer?: any; error?: Error; loading: boolean; for?: string }>({
    loading: true,
  });
  const want = JSON.stringify([key, here, n]);
  useEffect(() => {
    if (stack.key !== key) setStack({ key, at: [{ offset: 0 }] });
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    api(path, {
      query: { ...query, limit: pageSize, ...positionQuery(here), total: opts.total ? true : undefined },
    }).then(
      (answer) => live && setState({ answer, loading: false, for: want }),
      (error) => live && setState({ error, loading: false, for: want }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [want]);
  const rows = rowsOf(state.answer) as R[];
  const after = state.for === want ? nextPosition(state.answer, here, rows.length) : null;
  return {
    rows,
    answer: state.answer,
    loading: state.loading,
    error: state.error,
    reload: useCallback(() => setN((x) => x + 1), []),
    start: here.offset,
    total: typeof state.answer?.total === "number" ? state.answer.total : undefined,
    pageNumber: at.length,
    hasPrev: at.length > 1,
    hasNext: after !== null && !state.loading,
    prev: () => at.length > 1 && setStack({ key, at: at.slice(0, -1) }),
    next: () => after && setStack({ key, at: [...at, after] }),
  };
}

export type Column<R> = {
  key: string;
  label: string;
  render?: (r: R) => ReactNode;
  className?: string;
  actions?: boolean; // a column of buttons: its header is for screen readers only
};

const FORM_FIELD = /^(INPUT|SELECT|TEXTAREA)$/;

// One page of rows. Given a list (useCursorList), it pages it too: the
// buttons, or PageDown/PageUp from a row. Arrow keys, Home and End move
// between rows; Enter on a row opens its first link.
export function DataTable<R extends Record<string, any>>({
  columns,
  rows,
  list,
  empty,
  caption,
  rowKey = "id",
  rowClass,
  className,
  label,
}: {
  columns: Column<R>[];
  rows?: R[];
  list?: CursorList<R>;
  empty?: string;
  caption?: string;
  rowKey?: string | ((r: R) => string);
  rowClass?: (r: R) => string;
  className?: string;
  label?: string; // names the table (and its pager) when there is no caption
}) {
  const shown = rows ?? list?.rows ?? [];
  const loading = list?.loading ?? false;
  const body = useRef<HTMLTableSectionElement>(null);
  const [active, setActive] = useState(0);
  const refocus = useRef(false);
  const at = Math.min(active, Math.max(0, shown.length - 1));
  const focusRow = (i: number) => {
    const tr = body.current?.querySelectorAll<HTMLTableRowElement>(":scope > tr[data-row]")[i];
    if (tr) (setActive(i), tr.focus());
  };
  // After paging from the keyboard, the first row of the new page takes focus.
  const first = shown.length > 0 ? keyOf(shown[0], 0) : "";
  useEffect(() => {
    if (!refocus.current || loading) return;
    refocus.current = false;
    focusRow(0);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [first, loading]);
  function keyOf(r: R, i: number) {
    return typeof rowKey === "function" ? rowKey(r) : String(r[rowKey] ?? i);
  }
  function onKey(e: KeyboardEvent<HTMLTableRowElement>, i: number) {
    if (FORM_FIELD.test((e.target as HTMLElement).tagName)) return;
    const page = (go: () => void) => ((refocus.current = true), go());
    const moves: Record<string, () => void> = {
      ArrowDown: () => focusRow(Math.min(i + 1, shown.length - 1)),
      ArrowUp: () => focusRow(Math.max(i - 1, 0)),
      Home: () => focusRow(0),
      End: () => focusRow(shown.length - 1),
      PageDown: () => list?.hasNext && page(list.next),
      PageUp: () => list?.hasPrev && page(list.prev),
      Enter: () => e.currentTarget.querySelector("a")?.click(),
    };
    const f = moves[e.key];
    if (!f || (e.key === "Enter" && e.target !== e.currentTarget)) return;
    e.preventDefault();
    f();
  }
  return (
    <>
      <div className="table-wrap">
        <table className={className} aria-label={caption ? undefined : label} aria-busy={loading || undefined}>
          {caption && <caption>{caption}</caption>}
          <thead>
            <tr>
              {columns.map((c) => (
                <th key={c.key} scope="col" className={c.className}>
                  {c.actions ? <span className="sr">{c.label}</span> : c.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody ref={body}>
            {shown.map((r, i) => (
              <tr
                key={keyOf(r, i)}
                data-row=""
                tabIndex={i === at ? 0 : -1}
                className={rowClass?.(r) || undefined}
                onKeyDown={(e) => onKey(e, i)}
                onFocus={(e) => e.target === e.currentTarget && setActive(i)}
              >
                {columns.map((c) => (
                  <td
                    key={c.key}
                    data-label={c.actions ? undefined : c.label}
                    className={c.actions ? "row-actions" : c.className}
                  >
                    {c.render ? c.render(r) : fmt(r[c.key])}
                  </td>
                ))}
              </tr>
            ))}
            {shown.length === 0 && (
              <tr>
                <td colSpan={columns.length} className="muted">
                  {loading ? "Loading…" : list?.error ? "Could not load this list." : (empty ?? "Nothing here yet.")}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      {list && (list.hasPrev || list.hasNext) && <Pager list={list} count={shown.length} label={label} />}
    </>
  );
}

function Pager({ list, count, label }: { list: CursorList; count: number; label?: string }) {
  return (
    <nav className="pager" aria-label={label ? `pages of ${label}` : "pages"}>
      <button onClick={list.prev} disabled={!list.hasPrev}>
        ← Newer
      </button>
      <span className="muted" data-testid="page-range">
        {count === 0 ? "none" : `${(list.start + 1).toLocaleString()}–${(list.start + count).toLocaleString()}`}
        {list.total !== undefined && ` of ${list.total.toLocaleString()}`}
      </span>
      <button onClick={list.next} disabled={!list.hasNext}>
        Older →
      </button>
    </nav>
  );
}

function fmt(v: unknown): ReactNode {
  if (v === null || v === undefined || v === "") return <span className="muted">—</span>;
  if (Array.isArray(v)) return v.join(" ");
  if (typeof v === "object") return <code>{JSON.stringify(v)}</code>;
  return String(v);
}
