import { cloneElement, ReactElement, ReactNode, useCallback, useEffect, useId, useRef, useState } from "react";
import { api, ApiError, supportsDryRun } from "./api";

export function navigate(to: string) {
  history.pushState(null, "", to);
  dispatchEvent(new PopStateEvent("popstate"));
}

export function Link({ to, children, className }: { to: string; children: ReactNode; className?: string }) {
  return (
    <a
      href={to}
      className={className}
      onClick={(e) => {
        if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}

// Runs an async loader, again whenever deps change or reload() is called.
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const [state, setState] = useState<{ data?: T; error?: ApiError | Error; loading: boolean }>({ loading: true });
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false }),
      (error) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, n]);
  return { ...state, reload: useCallback(() => setN((x) => x + 1), []) };
}

export function ErrorNote({ error }: { error?: Error | null }) {
  if (!error) return null;
  const rid = error instanceof ApiError && error.requestId ? ` (request ${error.requestId})` : "";
  return (
    <p className="error" role="alert">
      {error.message}
      {rid}
    </p>
  );
}

// What an action did, said where the admin is looking.
export function Done({ note }: { note?: string | null }) {
  if (!note) return null;
  return (
    <p className="ok" role="status">
      {note}
    </p>
  );
}

export function When({ at }: { at?: string | null }) {
  if (!at) return <span className="muted">—</span>;
  const d = new Date(at);
  return <time dateTime={at} title={at}>{isNaN(d.getTime()) ? at : d.toLocaleString()}</time>;
}

export function Badge({ kind, children }: { kind?: string; children: ReactNode }) {
  return <span className={`badge ${kind ?? ""}`}>{children}</span>;
}

function Modal({ title, children, onClose }: { title: string; children: ReactNode; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal?.();
    return () => d?.close?.();
  }, []);
  return (
    <dialog ref={ref} aria-label={title} onCancel={(e) => (e.preventDefault(), onClose())} onClose={onClose}>
      <h2>{title}</h2>
      {children}
    </dialog>
  );
}

// What a dry run's counts mean, in the words an admin reads first.
const COUNT_LABELS: Record<string, string> = {
  revoked_count: "tokens would be revoked",
  revoked_token_count: "tokens would be revoked",
  revoked_agent_ids: "agents would lose their tokens",
  revoked_consent_count: "consents would be revoked",
  disabled_count: "agents would be disabled",
  matched_client_count: "clients match the pattern",
};

// Asks before a destructive action and says what it will revoke. It calls
// `path` (or runs `run`, for an action that needs more than one request
// body); with `route`, the path as the OpenAPI document names it, the counts
// come first from that operation's dry run when the server offers one.
export function Confirm({
  title,
  what,
  path,
  route,
  body,
  query,
  method = "POST",
  run,
  ready = true,
  confirmLabel = "Revoke",
  onDone,
  onClose,
}: {
  title: string;
  what: ReactNode;
  path?: string;
  route?: string; // e.g. /api/v1/agents/{id}/tokens/revoke-all
  body?: unknown;
  query?: Record<string, any>;
  method?: string;
  run?: () => Promise<any>; // instead of path: may throw to say what is wrong
  ready?: boolean; // false while the dialog's own fields are incomplete
  confirmLabel?: string;
  onDone: (result: any) => void;
  onClose: () => void;
}) {
  const [counts, setCounts] = useState<Record<string, number> | null | "none" | "skip">(route ? null : "skip");
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (!route || !path) return;
    let live = true;
    setCounts(null);
    supportsDryRun(route, method).then(async (yes) => {
      if (!yes) return live && setCounts("none");
      try {
        const r = await api(path, { method, body, query: { ...query, dry_run: true } });
        const nums: Record<string, number> = {};
        for (const [k, v] of Object.entries(r ?? {}))
          if (typeof v === "number") nums[k] = v;
          else if (Array.isArray(v)) nums[k] = v.length; // e.g. revoked_agent_ids
        live && setCounts(nums);
      } catch (e) {
        live && (setCounts("none"), setError(e as Error));
      }
    });
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [path, JSON.stringify(query)]);
  async function go() {
    setBusy(true);
    setError(null);
    try {
      onDone(await (run ? run() : api(path!, { method, body, query })));
    } catch (e) {
      setError(e as Error);
      setBusy(false);
    }
  }
  return (
    <Modal title={title} onClose={onClose}>
      <div className="confirm-what">{what}</div>
      {counts === "skip" ? null : counts === null ? (
        <p className="muted">Counting what this reaches…</p>
      ) : counts === "none" ? (
        <p className="muted" data-testid="no-counts">
          This server does not count in advance; the result will say how much was revoked.
        </p>
      ) : (
        <ul className="counts" data-testid="dry-run-counts">
          {Object.entries(counts).map(([k, v]) => (
            <li key={k}>
              <strong>{v.toLocaleString()}</strong> {COUNT_LABELS[k] ?? k.replace(/_/g, " ")}
            </li>
          ))}
        </ul>
      )}
      <ErrorNote error={error} />
      <div className="actions">
        <button onClick={onClose} autoFocus>
          Cancel
        </button>
        <button className="danger" onClick={go} disabled={busy || counts === null || !ready}>
          {confirmLabel}
        </button>
      </div>
    </Modal>
  );
}

// A secret the server shows once: displayed until dismissed, never stored.
export function SecretOnce({ label, value, onDismiss }: { label: string; value: string; onDismiss: () => void }) {
  const [copied, setCopied] = useState(false);
  return (
    <div className="secret" role="status">
      <p>
        <strong>{label}</strong> — shown once. Copy it now; the server keeps only its hash.
      </p>
      <code data-testid="secret-value">{value}</code>
      <div className="actions">
        <button
          onClick={() =>
            navigator.clipboard?.writeText(value).then(
              () => setCopied(true),
              () => setCopied(false),
            )
          }
        >
          {copied ? "Copied" : "Copy"}
        </button>
        <button onClick={onDismiss}>I have saved it</button>
      </div>
    </div>
  );
}

// A labelled control: the label names the control exactly (its hint is a
// description), so assistive technology and tests find it by its label.
export function Field({ label, children, hint }: { label: string; children: ReactElement; hint?: string }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {cloneElement(children as ReactElement<any>, { id, "aria-describedby": hint ? `${id}-hint` : undefined })}
      {hint && (
        <small id={`${id}-hint`} className="muted">
          {hint}
        </small>
      )}
    </div>
  );
}

export function splitList(s: string) {
  return s
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);
}
