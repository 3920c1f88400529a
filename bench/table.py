"""Prints bench/run's table from BENCH_TABLE_INPUT (key<TAB>value lines)."""
import os

R = {}
for line in os.environ["BENCH_TABLE_INPUT"].splitlines():
    k, _, v = line.partition("\t")
    R[k] = v
rows = [r for r in R.pop("rows", "").split("|") if r]
ORDER = ["a", "b", "c", "d", "e", "f", "a@50%", "b@50%", "c@50%", "d@50%", "e@2k", "a+idle"]
PEERS = []  # in the order they ran
for r in rows:
    side = r.rsplit(" ", 1)[1]
    if side != "shark" and side not in PEERS:
        PEERS.append(side)
rows.sort(key=lambda r: (ORDER.index(r.rsplit(" ", 1)[0]) if r.rsplit(" ", 1)[0] in ORDER else 99,
                         0 if r.endswith(" shark") else 1 + PEERS.index(r.rsplit(" ", 1)[1])))
M = {k[5:]: v for k, v in R.items() if k.startswith("meta.")}

NAMES = {
    "a": "(a) client_credentials, basic",
    "b": "(b) (a) + DPoP proof",
    "c": "(c) token exchange + DPoP, 1 act hop",
    "d": "(d) introspection, valid tokens",
    "e": "(e) GET JWKS",
    "f": "(f) GET /api/v1/agents?limit=50",
    "a@50%": "(a) paced at 50% of its max",
    "b@50%": "(b) paced at 50% of its max",
    "c@50%": "(c) paced at 50% of its max",
    "d@50%": "(d) paced at 50% of its max",
    "e@2k": "(e) paced at 2,000/s: the floor",
    "a+idle": f"(a) with {M.get('idle')} idle conns open",
}


def g(row, key, default=None):
    return R.get(f"{row}.{key}", default)


def num(row, key):
    v = g(row, key)
    return float(v) if v not in (None, "") else None


def ms(us):
    return "-" if us is None else f"{us / 1000:.2f}"


def mb(kb):
    return "-" if not kb else f"{kb / 1024:.0f}"


def crypto_share(row):
    """The crypto-only cost of a token (one ES256 sign + one verify) as a share
    of the server CPU time a token took: throughput as a fraction of the crypto
    bound on the cores the server used (its CPU seconds over the window)."""
    cpu, n = num(row, "srv_cpu_s"), num(row, "requests")
    if not cpu or not n:
        return None
    return (1 / float(M["sign"]) + 1 / float(M["verify"])) / (cpu / n)


hdr = ["workload", "side", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "errors",
       "RSS MB", "pg MB", "cpu s/1k", "pg cpu s/1k", "other%", "vs peers"]


def cpu_per_req(row):
    """Server plus database CPU seconds per request (None without figures)."""
    n, cpu = num(row, "requests"), num(row, "srv_cpu_s")
    if not n or cpu is None:
        return None
    return (cpu + (num(row, "db_cpu_s") or 0)) / n


def versus(wl, row):
    """shark against each peer's row of the same workload: throughput ratio,
    ratio per CPU-second (server + database), and both p99s."""
    parts = []
    for peer in PEERS:
        prow = f"{wl} {peer}"
        if f"{prow}.rps" not in R or g(prow, "failed") or g(prow, "na"):
            continue
        prps = float(R[f"{prow}.rps"])
        if prps <= 0:
            continue
        part = f"{peer} {num(row, 'rps') / prps:.2f}x"
        mine, theirs = cpu_per_req(row), cpu_per_req(prow)
        if mine and theirs:
            part += f" ({theirs / mine:.1f}x/cpu-s)"
        part += f" p99 {num(row, 'p99_us') / 1000:.1f} vs {num(prow, 'p99_us') / 1000:.1f}"
        parts.append(part)
    return "; ".join(parts)
out = []
for row in rows:
    wl, side = row.rsplit(" ", 1)
    name = NAMES.get(wl, wl)
    if g(row, "na"):
        na = g(row, "na")
        out.append([name, side, "n/a", "", "", "", "", "", "", "", "", "", na if len(na) < 90 else na[:87] + "..."])
        continue
    n = num(row, "requests") or 0
    rps = num(row, "rps") or 0
    failed = g(row, "failed")
    rps_s = "FAILED" if failed else f"{rps:,.0f}" + ("*" if g(row, "exhausted") == "1" else "")
    rss = num(row, "srv_hwm_kb")
    pg = num(row, "db_pss_kb")
    cpu = num(row, "srv_cpu_s")
    dbcpu = num(row, "db_cpu_s")
    vs = versus(wl, row) if side == "shark" and not failed else ""
    if wl == "b" and side == "shark" and not failed and crypto_share(row) is not None:
        vs = (vs + "; " if vs else "") + \
            f"crypto bound: {100 * crypto_share(row):.0f}% on shark's CPU time, " \
            f"{100 * rps / float(M['bound']):.0f}% of {M['shark_threads']} whole cores"
    if wl == "a+idle" and num(row, "idle_rss_kb"):
        vs = f"shark RSS with idle conns: {num(row, 'idle_rss_kb') / 1024:.1f} MB"
    if wl.endswith("@50%") and num(row, "late_sends"):
        vs = f"{int(num(row, 'late_sends')):,} sends >1 ms late (all {M['conns']} conns busy)"
    out.append([
        name, side, rps_s, ms(num(row, "p50_us")), ms(num(row, "p99_us")),
        ms(num(row, "p999_us")), g(row, "errors", "?"), mb(rss),
        mb(pg) if pg else "-",
        f"{cpu / n * 1000:.3f}" if n and cpu is not None else "-",
        f"{dbcpu / n * 1000:.3f}" if n and pg and dbcpu is not None else "-",
        f"{100 * (num(row, 'other_cpu_s') or 0) / ((num(row, 'window_s') or 1) * int(M['cores'])):.0f}",
        vs,
    ])

w = [max(len(str(r[i])) for r in out + [hdr]) for i in range(len(hdr))]
right = {2, 3, 4, 5, 6, 7, 8, 9, 10, 11}


def fmt(r):
    return "  ".join(str(c).rjust(w[i]) if i in right else str(c).ljust(w[i])
                     for i, c in enumerate(r)).rstrip()


print()
print(f"SharkAuth bench: {M['cores']} cores; shark --threads {M['shark_threads']}; "
      f"generator: {M['gen_threads']} thread(s), {M['conns']} keep-alive connections, "
      f"{M['warmup']} s warm-up + {M['seconds']} s per workload, 127.0.0.1")
print(f"shark built from {M.get('src')} (release)")
print("Storage: shark = PostgreSQL 15 (embedded cluster, synchronous_commit on; every token, "
      "audit event and DPoP jti written before the answer)")
for peer in PEERS:
    print(f"         {peer} = {M.get('storage.' + peer, '?')}")
for peer in PEERS:
    if M.get("notes." + peer):
        print(f"Config:  {M['notes.' + peer]}")
print()
print(fmt(hdr))
print(fmt(["-" * x for x in w]))
for r in out:
    print(fmt(r))
print()
print("req/s: responses in the timed window / window; * = window cut short when the pre-signed "
      "DPoP proofs ran out.")
print("RSS MB: server VmHWM (peak, cumulative over the run) after the row; pg MB: PSS of the "
      "server's PostgreSQL cluster (postmaster + children).")
print("vs peers: req/s ratio; in brackets the ratio per CPU-second (the peer's server+database CPU "
      "per request over shark's); p99 ms of both.")
print("cpu s/1k: server utime+stime per 1,000 requests in the window; pg cpu: the cluster's "
      "processes (incl. reaped backends).")
print("other%: machine CPU busy during the window not spent by the server, its database or the load "
      "generator, as % of all cores: other work on the machine; rows with a high value are noise.")
sign, verify, bound = float(M["sign"]), float(M["verify"]), float(M["bound"])
print(f"Crypto ceiling: ES256 sign {sign:,.0f}/s, verify {verify:,.0f}/s per core (OpenSSL EVP); "
      f"bound for (b) on {M['shark_threads']} cores = cores / (1/sign + 1/verify) = {bound:,.0f}/s")

# ----------------------------------------------------------------- targets
def rps(row):
    return None if g(row, "failed") or g(row, "na") or g(row, "rps") is None else float(g(row, "rps"))


def p99(row):
    v = num(row, "p99_us")
    return None if v is None else v / 1000


checks = []


def check(label, ok, detail):
    checks.append(("MET " if ok else "MISS" if ok is not None else "n/a ", label, detail))


OP = "oidc-provider"
for wl, need in (("a", 5), ("b", 10), ("c", 5), ("e", 3)):
    if OP not in PEERS:
        break
    s, p = rps(f"{wl} shark"), rps(f"{wl} {OP}")
    if s is None or p is None:
        check(f"({wl}) >= {need}x {OP}", None, "no comparable peer row" if s is not None else "no shark row")
        continue
    ok = s >= need * p
    det = f"{s / p:.2f}x ({s:,.0f} vs {p:,.0f} req/s)"
    if wl == "b":
        ok = ok and p99(f"{wl} shark") < p99(f"{wl} {OP}")
        det += f", p99 {p99('b shark'):.1f} vs {p99(f'b {OP}'):.1f} ms"
    check(f"({wl}) >= {need}x {OP}" + (" with lower p99" if wl == "b" else ""), ok, det)
# Ahead of every peer, with a lower p99, on every workload the peer supports.
for wl in "abcde":
    s, sp = rps(f"{wl} shark"), p99(f"{wl} shark")
    for peer in PEERS:
        p = rps(f"{wl} {peer}")
        if not p:
            continue
        if s is None:
            check(f"({wl}) ahead of {peer}, lower p99", False, "no shark row")
            continue
        pp = p99(f"{wl} {peer}")
        check(f"({wl}) ahead of {peer}, lower p99", s > p and sp < pp,
              f"{s / p:.2f}x, p99 {sp:.1f} vs {pp:.1f} ms")
for wl in "ab":
    for peer in ("hydra", "keycloak"):
        if peer not in PEERS:
            continue
        s, p = rps(f"{wl} shark"), rps(f"{wl} {peer}")
        if not p:
            check(f"({wl}) >= 10x {peer}", None, R.get(f"{wl} {peer}.na", "no row")[:60])
            continue
        check(f"({wl}) >= 10x {peer}", None if s is None else s >= 10 * p,
              "-" if s is None else f"{s / p:.2f}x ({s:,.0f} vs {p:,.0f} req/s)")
d = rps("d shark")
check("(d) > 21,000 req/s", None if d is None else d > 21000, "-" if d is None else f"{d:,.0f} req/s")
b = rps("b shark")
share = None if b is None else crypto_share("b shark")
check("(b) >= 50% of the crypto bound", None if share is None else share >= 0.5,
      "-" if share is None else
      f"{100 * share:.0f}% on the {num('b shark', 'srv_cpu_s') / num('b shark', 'window_s'):.2f} "
      f"cores of CPU time shark used; {100 * b / bound:.0f}% ({b:,.0f} of {bound:,.0f}/s) "
      f"if all {M['shark_threads']} cores had been shark's")
# The same bound with the database's CPU per token counted: what the whole
# machine could do if every core ran only sign + verify + this token's share
# of PostgreSQL.
if b is not None and num("b shark", "requests"):
    per = 1 / float(M["sign"]) + 1 / float(M["verify"]) + (num("b shark", "db_cpu_s") or 0) / num("b shark", "requests")
    mbound = int(M["cores"]) / per
    check("(b) >= 50% of the machine's bound, db counted", b >= 0.5 * mbound,
          f"{100 * b / mbound:.0f}% ({b:,.0f} of {mbound:,.0f}/s = {M['cores']} cores / "
          f"(sign + verify + {1000 * (per - 1 / float(M['sign']) - 1 / float(M['verify'])):.3f} ms pg))")
for row in ("a@50% shark", "b@50% shark", "c@50% shark", "d@50% shark"):
    v = p99(row)
    check(f"p99 < 5 ms at half max throughput {row.split()[0]}", None if v is None or g(row, "failed") else v < 5,
          "-" if v is None else f"p99 {v:.2f} ms at {rps(row) or 0:,.0f} req/s")
idle = num("a+idle shark", "idle_rss_kb")
check(f"< 64 MB RSS with {M['idle']} idle connections", None if not idle else idle / 1024 < 64,
      "-" if not idle else f"{idle / 1024:.1f} MB VmRSS (peak so far {num('a+idle shark', 'idle_hwm_kb') / 1024:.1f} MB); "
      f"(a) p99 with them open {p99('a+idle shark') or 0:.2f} ms")
print()
print("Targets:")
for st, label, det in checks:
    print(f"  {st}  {label:<44} {det}")

# Machine-readable rows for bench/figure.py (and anyone else), when asked.
if os.environ.get("BENCH_RESULTS_JSON"):
    import json
    keep = ("rps", "p50_us", "p99_us", "p999_us", "errors", "srv_cpu_s", "db_cpu_s", "requests", "srv_hwm_kb")
    data = {"meta": M, "peers": PEERS, "rows": {}}
    for row in rows:
        data["rows"][row] = {"na": g(row, "na"), "failed": bool(g(row, "failed")),
                             **{k: num(row, k) for k in keep}}
    with open(os.environ["BENCH_RESULTS_JSON"], "w") as f:
        json.dump(data, f, indent=1)
