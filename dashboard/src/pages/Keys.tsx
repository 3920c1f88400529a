import { useState } from "react";
import { ErrorNote, Modal, Table, useLoad } from "../components";
import { api } from "../api";

// The signing keys are public in the JWKS; rotating retires the current
// ones (they stay published until the tokens they signed expire).
export function Keys() {
  const jwks = useLoad(() => fetch("/.well-known/jwks.json").then((r) => r.json()), []);
  const [asking, setAsking] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  const [error, setError] = useState<Error | null>(null);
  async function rotate() {
    setError(null);
    try {
      const r = await api("/api/v1/admin/keys/rotate", { method: "POST", body: {} });
      setAsking(false);
      setNote(`Rotated: new key ${r?.kid ?? r?.id ?? ""}.`);
      jwks.reload();
    } catch (e) {
      setError(e as Error);
    }
  }
  return (
    <section>
      <div className="head">
        <h1>Signing keys</h1>
        <button className="danger" onClick={() => setAsking(true)}>
          Rotate keys
        </button>
      </div>
      {note && (
        <p className="ok" role="status">
          {note}
        </p>
      )}
      <ErrorNote error={jwks.error} />
      <Table
        rowKey="kid"
        columns={[
          { key: "kid", label: "Key ID", render: (k) => <code>{k.kid}</code> },
          { key: "alg", label: "Algorithm" },
          { key: "kty", label: "Type" },
          { key: "use", label: "Use" },
        ]}
        rows={jwks.data?.keys ?? []}
      />
      {asking && (
        <Modal title="Rotate the signing keys?" onClose={() => setAsking(false)}>
          <p>
            New tokens are signed with a new key. Tokens already issued stay valid: the old key is still published
            until they expire. Nothing is revoked.
          </p>
          <ErrorNote error={error} />
          <div className="actions">
            <button onClick={() => setAsking(false)} autoFocus>
              Cancel
            </button>
            <button className="danger" onClick={rotate}>
              Rotate
            </button>
          </div>
        </Modal>
      )}
    </section>
  );
}
