import { FormEvent, useEffect, useState } from "react";
import { ApiError, resume, setSignedOutHandler, signIn, signOut } from "./api";
import { ErrorNote, Link } from "./components";
import { Overview } from "./pages/Overview";
import { Apps } from "./pages/Apps";
import { AgentDetail, Agents } from "./pages/Agents";
import { UserDetail, Users } from "./pages/Users";
import { Audit } from "./pages/Audit";
import { WebhookDetail, Webhooks } from "./pages/Webhooks";
import { Vault } from "./pages/Vault";
import { Keys } from "./pages/Keys";
import { RevokePattern } from "./pages/RevokePattern";
import { ChainPage } from "./pages/ChainPage";

const NAV: [string, string][] = [
  ["/admin", "Overview"],
  ["/admin/apps", "Applications"],
  ["/admin/agents", "Agents"],
  ["/admin/users", "Users"],
  ["/admin/audit", "Audit log"],
  ["/admin/webhooks", "Webhooks"],
  ["/admin/vault", "Vault"],
  ["/admin/keys", "Signing keys"],
  ["/admin/revoke", "Revoke by pattern"],
];

function usePath() {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const f = () => setPath(location.pathname);
    addEventListener("popstate", f);
    return () => removeEventListener("popstate", f);
  }, []);
  return path.replace(/\/+$/, "") || "/admin";
}

function route(path: string) {
  const seg = path.split("/").slice(2).map(decodeURIComponent); // after "/admin"
  switch (seg[0]) {
    case undefined:
      return <Overview />;
    case "apps":
      return <Apps />;
    case "agents":
      return seg[1] ? <AgentDetail id={seg[1]} /> : <Agents />;
    case "users":
      return seg[1] ? <UserDetail id={seg[1]} /> : <Users />;
    case "audit":
      return <Audit />;
    case "webhooks":
      return seg[1] ? <WebhookDetail id={seg[1]} /> : <Webhooks />;
    case "vault":
      return <Vault />;
    case "keys":
      return <Keys />;
    case "revoke":
      return <RevokePattern />;
    case "tokens":
      if (seg[1] && seg[2] === "chain") return <ChainPage jti={seg[1]} />;
  }
  return (
    <section>
      <h1>Not found</h1>
      <p>
        No page at <code>{path}</code>. <Link to="/admin">Back to the overview</Link>.
      </p>
    </section>
  );
}

export function App() {
  const [state, setState] = useState<"checking" | "out" | "in">("checking");
  const [menu, setMenu] = useState(false);
  const path = usePath();
  useEffect(() => {
    setSignedOutHandler(() => setState("out"));
    resume().then((s) => setState(s ? "in" : "out"));
  }, []);
  useEffect(() => setMenu(false), [path]);
  if (state === "checking") return <p className="muted pad">Loading…</p>;
  if (state === "out") return <SignIn onIn={() => setState("in")} />;
  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <button className="menu-btn" aria-expanded={menu} aria-controls="nav" onClick={() => setMenu(!menu)}>
          Menu
        </button>
        <strong className="brand">SharkAuth</strong>
        <a href="/api/docs" className="docs-link">
          API reference
        </a>
        <button
          onClick={async () => {
            await signOut().catch(() => {});
            setState("out");
          }}
        >
          Sign out
        </button>
      </header>
      <nav id="nav" className={menu ? "side open" : "side"} aria-label="sections">
        <ul>
          {NAV.map(([to, label]) => (
            <li key={to}>
              <Link to={to} className={(to === "/admin" ? path === to : path.startsWith(to)) ? "active" : ""}>
                {label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        {route(path)}
      </main>
    </div>
  );
}

function SignIn({ onIn }: { onIn: () => void }) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(key.trim());
      setKey(""); // the key lives nowhere once exchanged
      onIn();
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401 ? new Error("That is not a live admin API key.") : (err as Error),
      );
    } finally {
      setBusy(false);
    }
  }
  return (
    <main className="signin">
      <form onSubmit={submit} autoComplete="off">
        <h1>SharkAuth admin</h1>
        <p className="muted">
          Sign in with the admin API key (<code>sk_live_…</code>, printed at first boot). It is exchanged once for a
          two-hour session and never stored in this browser.
        </p>
        <label className="field">
          <span>Admin API key</span>
          <input
            type="password"
            name="admin_key"
            value={key}
            onChange={(e) => setKey(e.target.value)}
            autoFocus
            required
            spellCheck={false}
          />
        </label>
        <ErrorNote error={error} />
        <button type="submit" className="primary" disabled={busy || !key}>
          Sign in
        </button>
      </form>
    </main>
  );
}
