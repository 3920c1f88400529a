#!/usr/bin/env python3
"""Builds dashboard/ (npm ci, then vite build) and embeds the bundle as a C
table (tools/embed_assets.py).

usage: dashboard_build.py DASHBOARD_DIR OUT.c

npm ci runs only when package-lock.json changed since the last one. The
bundle is kept in DASHBOARD_DIR/.bundle/<digest of its sources>, so every
build directory (test/run makes three) shares one vite build per version of
the sources. A lock keeps two builds from racing on node_modules.
"""
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys

SOURCES = ("package.json", "package-lock.json", "vite.config.ts", "tsconfig.json",
           "index.html", "docs.html", "src", "public")


def digest(root):
    h = hashlib.sha256()
    for name in SOURCES:
        path = os.path.join(root, name)
        if os.path.isfile(path):
            entries = [(name, path)]
        elif os.path.isdir(path):
            entries = []
            for d, dirs, files in os.walk(path):
                dirs.sort()
                for f in sorted(files):
                    full = os.path.join(d, f)
                    entries.append((os.path.relpath(full, root), full))
        else:
            continue
        for rel, full in entries:
            if ".test." in rel:
                continue
            h.update(rel.encode() + b"\0")
            with open(full, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:20]


def run(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd)
    if r.returncode != 0:
        sys.exit("dashboard_build: %s failed (%d)" % (" ".join(cmd), r.returncode))


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    root, out_c = os.path.abspath(argv[1]), os.path.abspath(argv[2])
    with open(os.path.join(root, ".build.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with open(os.path.join(root, "package-lock.json"), "rb") as f:
            lock_digest = hashlib.sha256(f.read()).hexdigest()
        stamp = os.path.join(root, "node_modules", ".shark-npm-ci")
        try:
            with open(stamp) as f:
                fresh = f.read() == lock_digest
        except OSError:
            fresh = False
        if not fresh:
            run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], root)
            with open(stamp, "w") as f:
                f.write(lock_digest)
        cache = os.path.join(root, ".bundle")
        dist = os.path.join(cache, digest(root))
        if not os.path.isdir(dist):
            tmp = dist + ".tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            run([os.path.join(root, "node_modules", ".bin", "vite"), "build", "--logLevel",
                 "warn", "--outDir", tmp, "--emptyOutDir"], root)
            # Older bundles are of no further use.
            for old in os.listdir(cache):
                if old != os.path.basename(tmp):
                    shutil.rmtree(os.path.join(cache, old), ignore_errors=True)
            os.rename(tmp, dist)
        here = os.path.dirname(os.path.abspath(__file__))
        r = subprocess.run([sys.executable, os.path.join(here, "embed_assets.py"),
                            "console_assets", out_c, dist, "--prefix", "/admin"])
        return r.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
