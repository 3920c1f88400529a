// @vitest-environment jsdom
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { Field, SecretOnce, splitList } from "./components";
import { hasDryRun, rowsOf, url } from "./api";
import { useState } from "react";

afterEach(cleanup);

describe("hasDryRun", () => {
  const dry = { name: "dry_run", in: "query", schema: { type: "string" } };
  const spec = {
    paths: {
      "/api/v1/agents/{id}/tokens/revoke-all": { post: { parameters: [dry] } },
      "/api/v1/users/{id}/revoke-agents": { parameters: [{ $ref: "#/components/parameters/DryRun" }], post: {} },
      "/api/v1/admin/oauth/revoke-by-pattern": { post: { parameters: [{ name: "dry_run", in: "header" }] } },
      "/api/v1/vault/connections/{id}": { get: { parameters: [dry] }, delete: {} },
    },
    components: { parameters: { DryRun: dry } },
  };
  it("finds a dry_run query parameter on the operation, its path item or through a $ref", () => {
    expect(hasDryRun(spec, "/api/v1/agents/{id}/tokens/revoke-all", "POST")).toBe(true);
    expect(hasDryRun(spec, "/api/v1/users/{id}/revoke-agents", "POST")).toBe(true);
  });
  it("does not take another operation's, or a header of that name", () => {
    expect(hasDryRun(spec, "/api/v1/vault/connections/{id}", "DELETE")).toBe(false);
    expect(hasDryRun(spec, "/api/v1/admin/oauth/revoke-by-pattern", "POST")).toBe(false);
  });
  it("says no for a path or document that is missing", () => {
    expect(hasDryRun(spec, "/api/v1/nope", "POST")).toBe(false);
    expect(hasDryRun(null, "/api/v1/agents/{id}/tokens/revoke-all", "POST")).toBe(false);
  });
  it("reads YAML with anchors and aliases as the assembled document may have them", async () => {
    const { parse } = await import("yaml");
    const text = [
      "paths:",
      "  /a:",
      "    post:",
      "      parameters:",
      "      - &id001",
      "        name: dry_run",
      "        in: query",
      "  /b:",
      "    post:",
      "      parameters:",
      "      - *id001",
    ].join("\n");
    expect(hasDryRun(parse(text), "/b", "post")).toBe(true);
  });
});

describe("helpers", () => {
  it("builds query strings without empty values", () => {
    expect(url("/x", { a: "1", b: "", c: undefined, d: null, e: false, f: "a b" })).toBe("/x?a=1&e=false&f=a+b");
    expect(url("/x")).toBe("/x");
  });
  it("reads rows from either listing shape", () => {
    expect(rowsOf({ data: [1] })).toEqual([1]);
    expect(rowsOf({ items: [2] })).toEqual([2]);
    expect(rowsOf(undefined)).toEqual([]);
  });
  it("splits scope lists on spaces and commas", () => {
    expect(splitList(" a, b  c,,")).toEqual(["a", "b", "c"]);
  });
});

describe("components", () => {
  it("Field names its control by the label alone", () => {
    render(
      <Field label="Scopes" hint="space separated">
        <input />
      </Field>,
    );
    const input = screen.getByLabelText("Scopes");
    expect(input.tagName).toBe("INPUT");
    expect(document.getElementById(input.getAttribute("aria-describedby")!)!.textContent).toBe("space separated");
  });

  it("SecretOnce shows the secret until dismissed, then it is gone", () => {
    function Host() {
      const [s, setS] = useState<string | null>("s3cr3t-value");
      return s ? <SecretOnce label="Client secret" value={s} onDismiss={() => setS(null)} /> : <p>gone</p>;
    }
    render(<Host />);
    expect(screen.getByTestId("secret-value").textContent).toBe("s3cr3t-value");
    fireEvent.click(screen.getByText("I have saved it"));
    expect(screen.queryByTestId("secret-value")).toBeNull();
    expect(document.body.textContent).not.toContain("s3cr3t-value");
  });
});
