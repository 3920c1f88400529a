"""Draws bench/run's comparison figure from the JSON table.py wrote.

Usage: figure.py RESULTS.json OUT.png. Two panels per workload (a)-(e): requests/s
(log scale) and p99 latency, one bar per server; "n/a" where a server lacks the
workload. Needs matplotlib (Debian's python3-matplotlib).
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

data = json.load(open(sys.argv[1]))
servers = ["shark"] + data["peers"]
workloads = [("a", "client_credentials"), ("b", "+ DPoP"), ("c", "token exchange"),
             ("d", "introspection"), ("e", "JWKS")]
colors = ["#0b6e99", "#e07a1f", "#6a9f3a", "#a23b72", "#777777"]
fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 7.5), sharex=True)
width = 0.8 / len(servers)
for i, srv in enumerate(servers):
    xs, rps, p99 = [], [], []
    for j, (wl, _) in enumerate(workloads):
        r = data["rows"].get(f"{wl} {srv}")
        x = j + (i - (len(servers) - 1) / 2) * width
        if not r or r["na"] or r["failed"] or not r["rps"]:
            for ax in (ax1, ax2):
                ax.text(x, 0.02, "n/a", transform=ax.get_xaxis_transform(), ha="center",
                        fontsize=7, rotation=90, color=colors[i % len(colors)])
            continue
        xs.append(x)
        rps.append(r["rps"])
        p99.append(r["p99_us"] / 1000)
    ax1.bar(xs, rps, width, label=srv, color=colors[i % len(colors)])
    ax2.bar(xs, p99, width, color=colors[i % len(colors)])
ax1.set_yscale("log")
ax1.set_ylabel("requests/s (log)")
ax2.set_yscale("log")
ax2.set_ylabel("p99 latency, ms (log)")
ax2.set_xticks(range(len(workloads)))
ax2.set_xticklabels([f"({wl}) {name}" for wl, name in workloads])
ax1.legend(ncol=len(servers), loc="upper left")
m = data["meta"]
fig.suptitle(f"SharkAuth vs peers: {m.get('cores')} cores, {m.get('conns')} connections, "
             f"{m.get('seconds')} s windows, every server on 127.0.0.1")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=110)
