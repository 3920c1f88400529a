"""A small network of Linux network namespaces for the multi-node tests.

One namespace per host, all on one bridge that lives in its own "switch"
namespace; the test itself (the root namespace) has a leg on the bridge too,
so it reaches every host directly. Everything made is named after the
creating process (shk<pid>-...), recorded, and removed by close() — which
also kills every process left in the namespaces — and a new lab first removes
what a lab of a process that no longer exists left behind.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

PREFIX = "shk"


def sh(*args, check=True, ns=None, **kw):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()))
    return r


def _netns_list():
    out = sh("ip", "netns", "list", check=False).stdout
    return [l.split()[0] for l in out.splitlines() if l.strip()]


def _kill_ns_procs(ns):
    for _ in range(50):
        pids = sh("ip", "netns", "pids", ns, check=False).stdout.split()
        if not pids:
            return
        for p in pids:
            try:
                os.kill(int(p), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        time.sleep(0.05)


def sweep_stale():
    """Removes namespaces and root links of earlier labs whose process died."""
    for ns in _netns_list():
        m = re.match(r"%s(\d+)-" % PREFIX, ns)
        if m and not os.path.exists("/proc/%s" % m.group(1)):
            _kill_ns_procs(ns)
            sh("ip", "netns", "del", ns, check=False)
    out = sh("ip", "-o", "link", "show", check=False).stdout
    for name in re.findall(r"^\d+: (%s\d+r)[@:]" % PREFIX, out, re.M):
        pid = name[len(PREFIX):-1]
        if not os.path.exists("/proc/%s" % pid):
            sh("ip", "link", "del", name, check=False)


class Lab:
    def __init__(self, hosts):
        sweep_stale()
        self.pid = os.getpid()
        self.tag = "%s%d" % (PREFIX, self.pid)
        self.subnet = 200 + self.pid % 50  # 10.213.<subnet>.0/24
        self.namespaces = []
        self.procs = []
        self.root_link = None
        self.dir = tempfile.mkdtemp(prefix="shark-netns-")
        os.chmod(self.dir, 0o711)
        self.ip = {}
        try:
            self._build(hosts)
        except BaseException:
            self.close()
            raise

    def addr(self, last):
        return "10.213.%d.%d" % (self.subnet, last)

    def ns(self, host):
        return "%s-%s" % (self.tag, host)

    def _build(self, hosts):
        sw = self.ns("sw")
        self._add_ns(sw)
        sh("ip", "link", "add", "br0", "type", "bridge", ns=sw)
        sh("ip", "link", "set", "br0", "up", ns=sw)
        for i, (host, last) in enumerate(hosts.items()):
            ns = self.ns(host)
            self._add_ns(ns)
            port = "p%d" % i
            sh("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port,
               "netns", sw)
            sh("ip", "link", "set", port, "master", "br0", "up", ns=sw)
            sh("ip", "addr", "add", self.addr(last) + "/24", "dev", "eth0", ns=ns)
            sh("ip", "link", "set", "eth0", "up", ns=ns)
            sh("ip", "link", "set", "lo", "up", ns=ns)
            self.ip[host] = self.addr(last)
        # The test's own leg, at .1.
        self.root_link = self.tag + "r"
        sh("ip", "link", "add", self.root_link, "type", "veth", "peer", "name", "root",
           "netns", sw)
        sh("ip", "link", "set", "root", "master", "br0", "up", ns=sw)
        sh("ip", "addr", "add", self.addr(1) + "/24", "dev", self.root_link)
        sh("ip", "link", "set", self.root_link, "up")
        self.ip["test"] = self.addr(1)

    def _add_ns(self, ns):
        sh("ip", "netns", "add", ns)
        self.namespaces.append(ns)

    def spawn(self, host, args, log, env=None, user=None):
        """A process inside host's namespace, output to log (a path)."""
        cmd = ["ip", "netns", "exec", self.ns(host)]
        if user:
            cmd += ["runuser", "-u", user, "--"]
        out = open(log, "ab")
        p = subprocess.Popen(cmd + list(args), stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=env)
        out.close()
        self.procs.append(p)
        return p

    def link(self, host, up):
        sh("ip", "link", "set", "eth0", "up" if up else "down", ns=self.ns(host))

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass
        for ns in reversed(self.namespaces):
            _kill_ns_procs(ns)
            sh("ip", "netns", "del", ns, check=False)
        if self.root_link:
            sh("ip", "link", "del", self.root_link, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.namespaces = []
        self.procs = []
        self.root_link = None

    def leftovers(self):
        names = [n for n in _netns_list() if n.startswith(self.tag + "-")]
        links = sh("ip", "-o", "link", "show", check=False).stdout
        return names + ([self.tag + "r"] if (self.tag + "r:") in links or
                        (self.tag + "r@") in links else [])
