import { KeyboardEvent, useRef, useState } from "react";

export type Hop = {
  jti: string;
  parent_jti?: string | null;
  client_id: string;
  client_name?: string | null;
  client_kind?: string | null;
  subject?: string;
  scope?: string;
  jkt?: string | null;
  audience?: string | null;
  issued_at?: string;
  expires_at?: string;
  revoked_at?: string | null;
  events?: { id: string; event: string; actor_id?: string | null; created_at: string; metadata?: any }[];
};
export type Chain = { jti: string; principal: { subject: string; user_id?: string | null }; hops: Hop[] };

// The delegation canvas: principal → first token's client → … → this token,
// one node per hop, joined by arrows. Nodes are buttons in reading order, so
// Tab, the arrow keys, Home and End move along the chain and Enter or a
// click shows a hop's audit events. The layout runs left to right and folds
// to top to bottom on a narrow screen (CSS).
export function Canvas({ chain, onOpenToken }: { chain: Chain; onOpenToken?: (jti: string) => void }) {
  const [sel, setSel] = useState(chain.hops.length - 1);
  const refs = useRef<(HTMLButtonElement | null)[]>([]);
  const hop = chain.hops[sel];
  function key(e: KeyboardEvent, i: number) {
    const last = chain.hops.length - 1;
    const to =
      e.key === "ArrowRight" || e.key === "ArrowDown"
        ? Math.min(last, i + 1)
        : e.key === "ArrowLeft" || e.key === "ArrowUp"
          ? Math.max(0, i - 1)
          : e.key === "Home"
            ? 0
            : e.key === "End"
              ? last
              : -1;
    if (to < 0) return;
    e.preventDefault();
    setSel(to);
    refs.current[to]?.focus();
  }
  return (
    <div className="canvas">
      <ol className="chain" aria-label={`delegation chain of ${chain.jti}, ${chain.hops.length} hops`}>
        <li className="node principal" data-testid="principal">
          <span className="kind">principal</span>
          <strong>{chain.principal.subject}</strong>
          {chain.principal.user_id && <span className="muted">a person</span>}
        </li>
        {chain.hops.map((h, i) => (
          <li key={h.jti} className="step">
            <svg className="arrow" viewBox="0 0 40 20" aria-hidden="true" focusable="false">
              <line x1="0" y1="10" x2="32" y2="10" />
              <polyline points="26,4 34,10 26,16" />
            </svg>
            <button
              ref={(el) => {
                refs.current[i] = el;
              }}
              className={`node hop${i === sel ? " selected" : ""}${h.revoked_at ? " revoked" : ""}`}
              aria-pressed={i === sel}
              data-testid="hop"
              onClick={() => setSel(i)}
              onKeyDown={(e) => key(e, i)}
            >
              <span className="kind">
                hop {i + 1}
                {h.revoked_at ? " · revoked" : ""}
              </span>
              <strong>{h.client_name || h.client_id}</strong>
              <code className="small">{h.client_id}</code>
              <span>scope: {h.scope || "—"}</span>
              <span>key: {h.jkt ? <code title={h.jkt}>{h.jkt.slice(0, 10)}…</code> : "bearer"}</span>
              <time dateTime={h.issued_at}>{h.issued_at ? new Date(h.issued_at).toLocaleString() : ""}</time>
            </button>
          </li>
        ))}
      </ol>
      {hop && (
        <section className="hop-detail" aria-live="polite" data-testid="hop-detail">
          <h2>
            Hop {sel + 1}: {hop.client_name || hop.client_id}
          </h2>
          <dl className="facts">
            <dt>Token (jti)</dt>
            <dd>
              <code>{hop.jti}</code>
            </dd>
            <dt>Client</dt>
            <dd>
              <code>{hop.client_id}</code> {hop.client_kind && <span className="muted">({hop.client_kind})</span>}
            </dd>
            <dt>Scope</dt>
            <dd>{hop.scope || "—"}</dd>
            <dt>cnf.jkt</dt>
            <dd>{hop.jkt ? <code>{hop.jkt}</code> : "not bound (bearer)"}</dd>
            <dt>Audience</dt>
            <dd>{hop.audience || "—"}</dd>
            <dt>Issued · expires</dt>
            <dd>
              {hop.issued_at} · {hop.expires_at}
            </dd>
            <dt>Revoked</dt>
            <dd>{hop.revoked_at ?? "no"}</dd>
            {hop.parent_jti && (
              <>
                <dt>From</dt>
                <dd>
                  {onOpenToken ? (
                    <button className="linkish" onClick={() => onOpenToken(hop.parent_jti!)}>
                      {hop.parent_jti}
                    </button>
                  ) : (
                    <code>{hop.parent_jti}</code>
                  )}
                </dd>
              </>
            )}
          </dl>
          <h3>Audit events</h3>
          {hop.events && hop.events.length > 0 ? (
            <ul className="hop-events">
              {hop.events.map((e) => (
                <li key={e.id}>
                  <code>{e.event}</code> <span className="muted">{e.created_at}</span>
                  {e.actor_id && (
                    <>
                      {" "}
                      by <code>{e.actor_id}</code>
                    </>
                  )}
                </li>
              ))}
            </ul>
          ) : (
            <p className="muted">None recorded.</p>
          )}
        </section>
      )}
    </div>
  );
}
