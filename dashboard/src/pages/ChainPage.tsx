import { FormEvent, useState } from "react";
import { api } from "../api";
import { Canvas, Chain } from "../Canvas";
import { ErrorNote, navigate, useLoad } from "../components";

export function ChainPage({ jti }: { jti: string }) {
  const chain = useLoad(() => api<Chain>(`/api/v1/tokens/${encodeURIComponent(jti)}/chain`), [jti]);
  const [other, setOther] = useState("");
  const open = (j: string) => navigate(`/admin/tokens/${encodeURIComponent(j)}/chain`);
  return (
    <section>
      <h1>Delegation canvas</h1>
      <form
        className="filters"
        onSubmit={(e: FormEvent) => {
          e.preventDefault();
          if (other.trim()) open(other.trim());
        }}
      >
        <label className="field">
          <span>Token (jti)</span>
          <input value={other} onChange={(e) => setOther(e.target.value)} placeholder={jti} />
        </label>
        <button type="submit">Show</button>
      </form>
      <ErrorNote error={chain.error} />
      {chain.data && <Canvas key={jti} chain={chain.data} onOpenToken={open} />}
    </section>
  );
}
