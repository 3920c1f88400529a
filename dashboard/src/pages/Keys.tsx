import { useState } from "react";
import { Confirm, Done, ErrorNote, useLoad } from "../components";
import { DataTable } from "../list";

// The signing keys are public in the JWKS; rotating retires the current
// ones (they stay published until the tokens they signed expire).
export function Keys() {
  const jwks = useLoad(() => fetch("/.well-known/jwks.json").then((r) => r.json()), []);
  const [asking, setAsking] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  return (
    <section>
      <div className="head">
        <h1>Signing keys</h1>
        <button className="danger" onClick={() => setAsking(true)}>
          Rotate keys
        </button>
      </div>
      <Done note={note} />
      <ErrorNote error={jwks.error} />
      <DataTable
        rowKey="kid"
        label="signing keys"
        columns={[
          { key: "kid", label: "Key ID", render: (k) => <code>{k.kid}</code> },
          { key: "alg", label: "Algorithm" },
          { key: "kty", label: "Type" },
          { key: "use", label: "Use" },
        ]}
        rows={jwks.data?.keys ?? []}
      />
      {asking && (
        <Confirm
          title="Rotate the signing keys?"
          what={
            <p>
              New tokens are signed with a new key. Tokens already issued stay valid: the old key is still published
              until they expire. Nothing is revoked.
            </p>
          }
          path="/api/v1/admin/keys/rotate"
          body={{}}
          confirmLabel="Rotate"
          onClose={() => setAsking(false)}
          onDone={(r) => {
            setAsking(false);
            setNote(`Rotated: new key ${r?.kid ?? r?.id ?? ""}.`);
            jwks.reload();
          }}
        />
      )}
    </section>
  );
}
