// @vitest-environment jsdom
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { Canvas, Chain } from "./Canvas";

afterEach(cleanup);

const chain: Chain = {
  jti: "tok_c",
  principal: { subject: "usr_ada", user_id: "usr_ada" },
  hops: [
    { jti: "tok_a", client_id: "shark_agent_a", client_name: "planner", scope: "docs:read docs:write", jkt: "jktAAAAAAAAAAAAAAAA", issued_at: "2026-12-04T02:00:00Z", events: [{ id: "e1", event: "oauth.token_issued", created_at: "2026-12-04T02:00:00Z" }] },
    { jti: "tok_b", parent_jti: "tok_a", client_id: "shark_agent_b", client_name: "researcher", scope: "docs:read", jkt: null, issued_at: "2026-12-04T02:01:00Z", events: [{ id: "e2", event: "oauth.token_exchanged", created_at: "2026-12-04T02:01:00Z" }] },
    { jti: "tok_c", parent_jti: "tok_b", client_id: "shark_agent_c", client_name: null, scope: "docs:read", jkt: "jktCCCCCCCCCCCCCCCC", issued_at: "2026-12-04T02:02:00Z", revoked_at: "2026-12-04T02:03:00Z", events: [] },
  ],
};

describe("Canvas", () => {
  it("draws principal then every hop in order, with client, scope and key", () => {
    render(<Canvas chain={chain} />);
    expect(screen.getByTestId("principal").textContent).toContain("usr_ada");
    const hops = screen.getAllByTestId("hop");
    expect(hops).toHaveLength(3);
    expect(hops[0].textContent).toContain("planner");
    expect(hops[0].textContent).toContain("docs:read docs:write");
    expect(hops[0].textContent).toContain("jktAAAAAAA");
    expect(hops[1].textContent).toContain("bearer");
    // A hop without a client name shows its client_id; a revoked one says so.
    expect(hops[2].textContent).toContain("shark_agent_c");
    expect(hops[2].textContent).toContain("revoked");
    expect(hops[2].className).toContain("revoked");
  });

  it("selects the last hop first and shows that hop's details", () => {
    render(<Canvas chain={chain} />);
    const hops = screen.getAllByTestId("hop");
    expect(hops[2].getAttribute("aria-pressed")).toBe("true");
    const detail = screen.getByTestId("hop-detail");
    expect(detail.textContent).toContain("tok_c");
    expect(within(detail).getByText("None recorded.")).toBeTruthy();
  });

  it("moves along the chain with the keyboard and shows each hop's audit events", () => {
    render(<Canvas chain={chain} />);
    const hops = screen.getAllByTestId("hop");
    fireEvent.keyDown(hops[2], { key: "Home" });
    expect(hops[0].getAttribute("aria-pressed")).toBe("true");
    expect(document.activeElement).toBe(hops[0]);
    expect(screen.getByTestId("hop-detail").textContent).toContain("oauth.token_issued");
    fireEvent.keyDown(hops[0], { key: "ArrowRight" });
    expect(hops[1].getAttribute("aria-pressed")).toBe("true");
    expect(screen.getByTestId("hop-detail").textContent).toContain("oauth.token_exchanged");
    fireEvent.keyDown(hops[1], { key: "End" });
    expect(hops[2].getAttribute("aria-pressed")).toBe("true");
    // Past either end it stays put.
    fireEvent.keyDown(hops[2], { key: "ArrowRight" });
    expect(hops[2].getAttribute("aria-pressed")).toBe("true");
    fireEvent.click(hops[1]);
    expect(hops[1].getAttribute("aria-pressed")).toBe("true");
  });

  it("opens the parent token when asked", () => {
    const opened: string[] = [];
    render(<Canvas chain={chain} onOpenToken={(j) => opened.push(j)} />);
    fireEvent.click(screen.getByRole("button", { name: "tok_b" }));
    expect(opened).toEqual(["tok_b"]);
  });
});
