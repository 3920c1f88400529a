import { api, rowsOf } from "../api";
import { Badge, ErrorNote, Link, useLoad } from "../components";
import { EventTable } from "./Audit";

const COUNTS: [string, string, string][] = [
  ["Applications", "/api/v1/apps", "/admin/apps"],
  ["Agents", "/api/v1/agents", "/admin/agents"],
  ["Users", "/api/v1/users", "/admin/users"],
  ["Webhooks", "/api/v1/admin/webhooks", "/admin/webhooks"],
];

export function Overview() {
  const health = useLoad(() => api("/api/v1/system/health"), []);
  const counts = useLoad(
    () => Promise.all(COUNTS.map(([, p]) => api(p, { query: { limit: 1, total: true } }).then((r) => r.total as number))),
    [],
  );
  const recent = useLoad(() => api("/api/v1/audit-logs", { query: { limit: 10 } }), []);
  const h = health.data;
  const ok = h?.status === "ok";
  return (
    <section>
      <h1>Overview</h1>
      <div className="cards">
        <div className={`card ${h ? (ok ? "good" : "bad") : ""}`} data-testid="health">
          <h2>System</h2>
          {h ? (
            <>
              <p className="big">
                <Badge kind={ok ? "good" : "bad"}>{h.status}</Badge>
              </p>
              <p className="muted">
                v{h.version} · up {Math.round(h.uptime_seconds / 60)} min · database {h.database?.status} (schema{" "}
                {h.database?.schema_version})
              </p>
            </>
          ) : (
            <ErrorNote error={health.error} />
          )}
        </div>
        {COUNTS.map(([label, , to], i) => (
          <Link key={label} to={to} className="card">
            <h2>{label}</h2>
            <p className="big">{counts.data ? counts.data[i]?.toLocaleString() : "…"}</p>
          </Link>
        ))}
      </div>
      <ErrorNote error={counts.error} />
      <h2>Recent audit events</h2>
      <ErrorNote error={recent.error} />
      <EventTable rows={rowsOf(recent.data)} />
      <p>
        <Link to="/admin/audit">The whole audit log →</Link>
      </p>
    </section>
  );
}
