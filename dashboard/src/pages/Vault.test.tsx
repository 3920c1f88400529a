// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { cleanup, configure, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { Vault } from "./Vault";

// Pages render 50 rows each: on a busy machine that takes more than the
// default second to settle.
configure({ asyncUtilTimeout: 15_000 });

// A vault in the page's window: 1200 connections newest first, every tenth
// needing re-authorization, paged by cursor and filtered by needs_reauth as
// the server does. Every connections request is kept.
function server() {
  const conns = Array.from({ length: 1200 }, (_, i) => ({
    id: `conn_${i}`,
    user_id: `usr_${i}`,
    provider_id: "acme",
    scopes: [],
    needs_reauth: i % 10 === 9,
    created_at: "2026-12-04T00:00:00Z",
  }));
  const seen: URLSearchParams[] = [];
  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  vi.stubGlobal(
    "fetch",
    vi.fn(async (input: string) => {
      const u = new URL(input, "http://shark.test");
      const q = u.searchParams;
      if (u.pathname === "/api/v1/vault/providers") return json(200, { data: [], limit: 1000, next_cursor: null });
      if (u.pathname !== "/api/v1/vault/connections") return json(404, { error: { code: "not_found", message: "no" } });
      seen.push(q);
      const f = q.get("needs_reauth");
      if (f !== null && f !== "true" && f !== "false")
        return json(400, { error: { code: "invalid_request", message: "needs_reauth must be true or false" } });
      const all = f === null ? conns : conns.filter((c) => c.needs_reauth === (f === "true"));
      const limit = Number(q.get("limit") ?? 100);
      const from = q.has("cursor") ? Number(atob(q.get("cursor")!)) : 0;
      const page = all.slice(from, from + limit);
      return json(200, {
        data: page,
        items: page,
        limit,
        next_cursor: from + limit < all.length ? btoa(String(from + limit)) : null,
      });
    }),
  );
  return seen;
}

const users = () => Array.from(document.querySelectorAll("tbody > tr[data-row] a")).map((a) => a.textContent);

beforeEach(() => history.replaceState(null, "", "/admin/vault"));
afterEach(() => (cleanup(), vi.unstubAllGlobals()));

const reauth = (from: number, n: number) => Array.from({ length: n }, (_, i) => `usr_${(from + i) * 10 + 9}`);

describe("Vault connections", () => {
  it("asks the server for the ones needing re-authorization instead of sifting the page", async () => {
    const seen = server();
    render(<Vault />);
    await waitFor(() => expect(users()).toHaveLength(50));
    expect(seen.at(-1)!.has("needs_reauth")).toBe(false);
    const toggle = screen.getByRole("checkbox", { name: "Only needing re-authorization" });
    fireEvent.click(toggle);
    // A whole page of them, though the page shown before held only five.
    await waitFor(() => expect(users()).toEqual(reauth(0, 50)));
    expect(seen.at(-1)!.get("needs_reauth")).toBe("true");
    expect(seen.at(-1)!.has("cursor")).toBe(false);
    fireEvent.click(toggle);
    await waitFor(() => expect(users()[1]).toBe("usr_1"));
    expect(seen.at(-1)!.has("needs_reauth")).toBe(false);
  });

  it("keeps the filter on the next page's request, to the last page", async () => {
    const seen = server();
    render(<Vault />);
    fireEvent.click(screen.getByRole("checkbox", { name: "Only needing re-authorization" }));
    await waitFor(() => expect(users()).toEqual(reauth(0, 50)));
    const older = () => screen.getByRole("button", { name: "Older →" }) as HTMLButtonElement;
    fireEvent.click(older());
    await waitFor(() => expect(users()).toEqual(reauth(50, 50)));
    expect(seen.at(-1)!.get("needs_reauth")).toBe("true");
    expect(seen.at(-1)!.has("cursor")).toBe(true);
    await waitFor(() => expect(older().disabled).toBe(false));
    fireEvent.click(older());
    await waitFor(() => expect(users()).toEqual(reauth(100, 20)));
    expect(older().disabled).toBe(true);
    expect(seen.every((q) => q.get("needs_reauth") !== "false")).toBe(true);
  });
});
