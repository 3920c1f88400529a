// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { useState } from "react";
import { DataTable, nextPosition, positionQuery, useCursorList } from "./list";
import { Confirm, Link } from "./components";

// A listing server in the page's window: N rows newest first, answering in
// one of the shapes a shark may answer with. Every request is kept.
type Shape = "cursor" | "offset" | "all";
function server(n: number, shape: Shape) {
  const rows = Array.from({ length: n }, (_, i) => ({ id: `row_${i}`, name: `row ${i}` }));
  const seen: URLSearchParams[] = [];
  const fetch = vi.fn(async (input: string) => {
    const u = new URL(input, "http://shark.test");
    const q = u.searchParams;
    seen.push(q);
    const json = (status: number, body: unknown) =>
      new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
    if (!u.pathname.startsWith("/api/v1/things")) return json(404, { error: { code: "not_found", message: "no" } });
    const limit = Number(q.get("limit") ?? 100);
    const only = q.get("kind");
    const all = only ? rows.filter((r) => Number(r.id.slice(4)) % 2 === (only === "even" ? 0 : 1)) : rows;
    if (shape === "all") return json(200, { data: all });
    if (shape === "offset") {
      const off = Number(q.get("offset") ?? 0);
      return json(200, { data: all.slice(off, off + limit), total: all.length, limit, offset: off });
    }
    if (q.has("cursor") && Number(q.get("offset") ?? 0) > 0)
      return json(400, { error: { code: "invalid_request", message: "cursor and offset" } });
    const from = q.has("cursor") ? Number(atob(q.get("cursor")!)) : 0;
    const page = all.slice(from, from + limit);
    const more = from + limit < all.length;
    return json(200, {
      data: page,
      limit,
      next_cursor: more ? btoa(String(from + limit)) : null,
      ...(q.get("total") === "true" ? { total: all.length } : {}),
    });
  });
  vi.stubGlobal("fetch", fetch);
  return { seen, fetch };
}

function Things({ pageSize = 50, total = false }: { pageSize?: number; total?: boolean }) {
  const [kind, setKind] = useState("");
  const list = useCursorList("/api/v1/things", { kind }, { pageSize, total });
  return (
    <>
      <button onClick={() => setKind("even")}>only even</button>
      <DataTable
        list={list}
        label="things"
        columns={[{ key: "name", label: "Name", render: (r) => <Link to={`/admin/things/${r.id}`}>{r.name}</Link> }]}
      />
    </>
  );
}

const bodyRows = () => document.querySelectorAll("tbody > tr[data-row]");
const older = () => screen.getByRole("button", { name: "Older →" }) as HTMLButtonElement;
const newer = () => screen.getByRole("button", { name: "← Newer" }) as HTMLButtonElement;
async function showing(first: string) {
  await waitFor(() => expect(bodyRows()[0]?.textContent).toBe(first));
}

beforeEach(() => history.replaceState(null, "", "/admin/things"));
afterEach(() => (cleanup(), vi.unstubAllGlobals()));

describe("nextPosition", () => {
  it("follows next_cursor, and a null one is the last page", () => {
    expect(nextPosition({ data: [], next_cursor: "abc" }, { offset: 0 }, 50)).toEqual({ cursor: "abc", offset: 50 });
    expect(nextPosition({ data: [], next_cursor: null, total: 900 }, { offset: 0 }, 50)).toBeNull();
  });
  it("falls back to offsets when the answer has a total and no next_cursor", () => {
    expect(nextPosition({ total: 120 }, { offset: 50 }, 50)).toEqual({ offset: 100 });
    expect(nextPosition({ total: 120 }, { offset: 100 }, 20)).toBeNull();
    expect(nextPosition({ total: 120 }, { offset: 100 }, 0)).toBeNull();
  });
  it("takes an answer with neither as everything there is", () => {
    expect(nextPosition({ data: [1, 2] }, { offset: 0 }, 2)).toBeNull();
    expect(nextPosition([1, 2], { offset: 0 }, 2)).toBeNull();
    expect(nextPosition(undefined, { offset: 0 }, 0)).toBeNull();
  });
  it("never asks with a cursor and an offset together", () => {
    expect(positionQuery({ cursor: "abc", offset: 50 })).toEqual({ cursor: "abc" });
    expect(positionQuery({ offset: 50 })).toEqual({ offset: 50 });
    expect(positionQuery({ offset: 0 })).toEqual({ offset: undefined });
  });
});

describe("useCursorList with DataTable", () => {
  it("pages by the server's cursors, one page in the DOM, and back", async () => {
    const { seen } = server(120, "cursor");
    render(<Things />);
    await showing("row 0");
    expect(bodyRows().length).toBe(50);
    expect(seen[0].get("limit")).toBe("50");
    expect(seen[0].has("cursor") || seen[0].has("offset") || seen[0].has("total")).toBe(false);
    expect(newer().disabled).toBe(true);
    fireEvent.click(older());
    await showing("row 50");
    expect(bodyRows().length).toBe(50);
    const second = seen[seen.length - 1];
    expect(second.get("cursor")).toBe(btoa("50"));
    expect(second.has("offset")).toBe(false);
    expect(screen.getByTestId("page-range").textContent).toBe("51–100");
    await waitFor(() => expect(older().disabled).toBe(false));
    fireEvent.click(older());
    await showing("row 100");
    expect(bodyRows().length).toBe(20);
    await waitFor(() => expect(screen.getByTestId("page-range").textContent).toBe("101–120"));
    expect(older().disabled).toBe(true);
    fireEvent.click(newer());
    await showing("row 50");
    expect(seen[seen.length - 1].get("cursor")).toBe(btoa("50"));
  });

  it("asks for a total only when told to, and shows it", async () => {
    const { seen } = server(120, "cursor");
    render(<Things total />);
    await showing("row 0");
    expect(seen[0].get("total")).toBe("true");
    await waitFor(() => expect(screen.getByTestId("page-range").textContent).toBe("1–50 of 120"));
  });

  it("falls back to offsets for a server that answers a total and no cursor", async () => {
    const { seen } = server(120, "offset");
    render(<Things />);
    await showing("row 0");
    await waitFor(() => expect(older().disabled).toBe(false));
    fireEvent.click(older());
    await showing("row 50");
    expect(seen[seen.length - 1].get("offset")).toBe("50");
    expect(seen[seen.length - 1].has("cursor")).toBe(false);
    fireEvent.click(older());
    await showing("row 100");
    await waitFor(() => expect(screen.getByTestId("page-range").textContent).toBe("101–120 of 120"));
    expect(older().disabled).toBe(true);
  });

  it("shows no pager for an answer that is everything at once", async () => {
    server(30, "all");
    render(<Things />);
    await showing("row 0");
    expect(bodyRows().length).toBe(30);
    expect(screen.queryByRole("navigation")).toBeNull();
  });

  it("starts again at the first page when the query changes", async () => {
    const { seen } = server(300, "cursor");
    render(<Things />);
    await showing("row 0");
    await waitFor(() => expect(older().disabled).toBe(false));
    fireEvent.click(older());
    await showing("row 50");
    fireEvent.click(screen.getByText("only even"));
    await showing("row 0");
    const last = seen[seen.length - 1];
    expect(last.get("kind")).toBe("even");
    expect(last.has("cursor")).toBe(false);
    expect(newer().disabled).toBe(true);
  });

  it("moves between rows with the keyboard and pages with PageDown/PageUp", async () => {
    server(120, "cursor");
    render(<Things />);
    await showing("row 0");
    const rows = bodyRows() as NodeListOf<HTMLElement>;
    expect([...rows].filter((r) => r.tabIndex === 0).length).toBe(1);
    rows[0].focus();
    fireEvent.keyDown(rows[0], { key: "ArrowDown" });
    expect(document.activeElement).toBe(rows[1]);
    expect(rows[1].tabIndex).toBe(0);
    expect(rows[0].tabIndex).toBe(-1);
    fireEvent.keyDown(rows[1], { key: "End" });
    expect(document.activeElement).toBe(rows[49]);
    fireEvent.keyDown(rows[49], { key: "ArrowDown" });
    expect(document.activeElement).toBe(rows[49]);
    fireEvent.keyDown(rows[49], { key: "Home" });
    expect(document.activeElement).toBe(rows[0]);
    fireEvent.keyDown(rows[0], { key: "Enter" });
    expect(location.pathname).toBe("/admin/things/row_0");
    await waitFor(() => expect(older().disabled).toBe(false));
    fireEvent.keyDown(rows[0], { key: "PageDown" });
    await showing("row 50");
    await waitFor(() => expect(document.activeElement).toBe(bodyRows()[0]));
    fireEvent.keyDown(bodyRows()[0], { key: "PageUp" });
    await showing("row 0");
  });

  it("labels each cell with its column for the phone layout, and keeps action headers for screen readers", () => {
    render(
      <DataTable
        rows={[{ id: "a", x: ["p", "q"] }]}
        columns={[
          { key: "x", label: "Beta" },
          { key: "act", label: "Actions", actions: true, render: () => <button>Go</button> },
        ]}
      />,
    );
    expect(screen.getByText("p q").getAttribute("data-label")).toBe("Beta");
    expect(screen.getByText("Go").closest("td")!.hasAttribute("data-label")).toBe(false);
    expect(screen.getByText("Actions").className).toBe("sr");
    cleanup();
    render(<DataTable rows={[]} columns={[{ key: "x", label: "X" }]} empty="No agents." />);
    expect(screen.getByText("No agents.")).toBeTruthy();
  });
});

describe("Confirm", () => {
  it("counts with the operation's dry run first, then acts without it", async () => {
    const calls: string[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (input: string, init?: RequestInit) => {
        calls.push(`${init?.method ?? "GET"} ${input}`);
        if (input === "/api/openapi.yaml")
          return new Response(
            "paths:\n  /api/v1/x/{id}/revoke:\n    post:\n      parameters:\n      - {name: dry_run, in: query}\n",
          );
        const dry = input.includes("dry_run=true");
        return new Response(JSON.stringify(dry ? { revoked_count: 7, dry_run: true } : { revoked_count: 7 }), {
          headers: { "Content-Type": "application/json" },
        });
      }),
    );
    const done: any[] = [];
    render(
      <Confirm
        title="Revoke?"
        what={<p>all of it</p>}
        path="/api/v1/x/abc/revoke"
        route="/api/v1/x/{id}/revoke"
        body={{}}
        onDone={(r) => done.push(r)}
        onClose={() => {}}
      />,
    );
    await screen.findByTestId("dry-run-counts");
    expect(screen.getByTestId("dry-run-counts").textContent).toBe("7 tokens would be revoked");
    expect(calls).toContain("POST /api/v1/x/abc/revoke?dry_run=true");
    await act(async () => fireEvent.click(screen.getByRole("button", { name: "Revoke", hidden: true })));
    await waitFor(() => expect(done).toEqual([{ revoked_count: 7 }]));
    expect(calls[calls.length - 1]).toBe("POST /api/v1/x/abc/revoke");
  });

  it("runs its own action, only once its fields are ready, and shows what failed", async () => {
    const done: any[] = [];
    function Host() {
      const [v, setV] = useState("");
      return (
        <Confirm
          title="Rotate?"
          what={<input aria-label="key" value={v} onChange={(e) => setV(e.target.value)} />}
          run={async () => {
            if (v !== "good") throw new Error("not a key");
            return { ok: v };
          }}
          ready={v !== ""}
          confirmLabel="Rotate"
          onDone={(r) => done.push(r)}
          onClose={() => {}}
        />
      );
    }
    render(<Host />);
    const go = screen.getByRole("button", { name: "Rotate", hidden: true }) as HTMLButtonElement;
    expect(go.disabled).toBe(true);
    expect(screen.queryByTestId("no-counts")).toBeNull();
    fireEvent.change(screen.getByLabelText("key"), { target: { value: "bad" } });
    await act(async () => fireEvent.click(go));
    expect((await screen.findByRole("alert", { hidden: true })).textContent).toBe("not a key");
    fireEvent.change(screen.getByLabelText("key"), { target: { value: "good" } });
    await act(async () => fireEvent.click(go));
    await waitFor(() => expect(done).toEqual([{ ok: "good" }]));
  });
});
