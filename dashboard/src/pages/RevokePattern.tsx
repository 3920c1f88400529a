import { FormEvent, useState } from "react";
import { Confirm, Done, Field } from "../components";

export function RevokePattern() {
  const [pattern, setPattern] = useState("");
  const [reason, setReason] = useState("");
  const [asking, setAsking] = useState(false);
  const [result, setResult] = useState<any>(null);
  function submit(e: FormEvent) {
    e.preventDefault();
    setResult(null);
    setAsking(true);
  }
  return (
    <section>
      <h1>Revoke by pattern</h1>
      <p className="muted">
        Revokes every live token of the clients whose client_id matches a glob (<code>*</code> any run,{" "}
        <code>?</code> one character), e.g. <code>shark_agent_ci-*</code>.
      </p>
      <form className="panel" onSubmit={submit}>
        <Field label="client_id pattern">
          <input value={pattern} onChange={(e) => setPattern(e.target.value)} required name="client_id_pattern" />
        </Field>
        <Field label="Reason" hint="recorded in the audit log">
          <input value={reason} onChange={(e) => setReason(e.target.value)} required name="reason" />
        </Field>
        <button type="submit" className="danger">
          Revoke…
        </button>
      </form>
      <Done
        note={
          result &&
          `Revoked ${result.revoked_count ?? 0} tokens of the clients matching ${result.pattern_matched ?? pattern}.`
        }
      />
      {asking && (
        <Confirm
          title="Revoke by pattern?"
          what={
            <p>
              Revokes every live token of every client matching <code>{pattern}</code>, and what was derived from them.
            </p>
          }
          path="/api/v1/admin/oauth/revoke-by-pattern"
          route="/api/v1/admin/oauth/revoke-by-pattern"
          body={{ client_id_pattern: pattern, reason }}
          onClose={() => setAsking(false)}
          onDone={(r) => {
            setAsking(false);
            setResult(r);
          }}
        />
      )}
    </section>
  );
}
