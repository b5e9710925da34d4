"""The servers the tools measure: each chapter, nginx configured for the same job, and the kernel
floor (tests/tools/floor.cpp). Each is started with --port 0 (or a free port), optionally on a
given set of CPUs, and stopped, with its whole process tree, by stop() or at the script's exit.
"""

import copy
import json
import os
import pwd
import resource
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import procs
from serverlib import ServerProcess, http_get, load_registry, tree_cpu_seconds, tree_cpu_split, tree_pids

HOST = "127.0.0.1"
HELLO = b"Hello, World!"


class Chapter:
    """A chapter of the registry and its binary in a build."""

    def __init__(self, entry, bindir):
        self.name = entry["name"]
        self.model = entry.get("model", "?")
        self.flags = list(entry.get("flags", []))
        self.caps = dict(entry.get("capabilities", {}))
        self.binary = Path(bindir) / self.name
        self.variants = dict(entry.get("variants", {}))
        self.extra_args = []  # a variant's own flags (08-reuseport+processes: --processes)

    @property
    def built(self):
        return self.binary.exists()

    def cap(self, name):
        return bool(self.caps.get(name, False))


def load_chapters(build):
    return [Chapter(e, Path(build) / "bin") for e in load_registry()]


def variants_of(chapter):
    """The chapter's variants (the registry's "variants"), each as a chapter named NAME+VARIANT
    that the same binary serves with the variant's flags."""
    for variant, args in chapter.variants.items():
        other = copy.copy(chapter)
        other.name = f"{chapter.name}+{variant}"
        other.extra_args = list(args)
        other.variants = {}
        yield other


def baseline_of(chapter, bindir):
    """The same chapter in another build's bin directory, named NAME@baseline."""
    other = copy.copy(chapter)
    other.binary = Path(bindir) / chapter.name
    other.name = f"{chapter.name}@baseline"
    return other


def named(chapters, wanted):
    """The chapters that one of wanted names: "4", "04" or "04-polling"."""
    prefixes = [w.zfill(2) if w.isdigit() else w for w in wanted]
    return [c for c in chapters if any(c.name.startswith(p) for p in prefixes)]


def chapter_args(chapter, workers, max_connections, idle_timeout=600):
    """The command-line flags a chapter gets for a measure, from the flags the registry lists.

    --threads W for a chapter whose model takes a thread count (workers=None: the model's own
    default); --max-clients raised above the largest connection count used, for a chapter that
    caps its processes or threads (otherwise the connections over the cap wait in the backlog and
    the load measures the wait); a long idle timeout, so held idle connections stay open while
    they are measured.
    """
    args = ["--idle-timeout", str(idle_timeout), *chapter.extra_args]
    if "threads" in chapter.flags and workers:
        args += ["--threads", str(workers)]
    if "max-clients" in chapter.flags and max_connections > 512:
        args += ["--max-clients", str(max_connections + 64)]
    return args


class Measured:
    """What the tools read from a running server (a chapter, the floor or nginx)."""

    name = "?"

    @property
    def address(self):
        return (HOST, self.port)

    @property
    def url(self):
        return f"http://{HOST}:{self.port}/"

    def alive(self):
        return self.proc.poll() is None

    def pids(self):
        return tree_pids(self.proc.pid)

    def cpu_seconds(self):
        """User plus system CPU of the server's processes and threads so far."""
        return tree_cpu_seconds(self.proc.pid)

    def cpu_split(self, settle=0.05, tries=10):
        """(user, system) CPU seconds of the server's processes and threads so far, read when
        two readings settle-seconds apart agree: a forking server's child that exits while the
        tree is read would otherwise be missed (gone from /proc, not yet in its parent's
        reaped-children times)."""
        last = tree_cpu_split(self.proc.pid)
        for _ in range(tries):
            time.sleep(settle)
            now = tree_cpu_split(self.proc.pid)
            if now == last:
                break
            last = now
        return last

    def log_tail(self, lines=3):
        try:
            text = self.errlog.read_text(errors="replace").strip().splitlines()
            return " / ".join(text[-lines:]) or "(no output)"
        except OSError:
            return "(no output)"


class ListeningServer(ServerProcess, Measured):
    """A binary of this repository that prints the listening line: a chapter, or the floor."""

    def __init__(self, name, cmd, logdir, cpus=None, env=None):
        self.name = name
        self.errlog = Path(logdir) / f"{name}.stderr"
        self._err = open(self.errlog, "ab")
        try:
            super().__init__(cmd, spawn=lambda c, **kw: procs.spawn(c, cpus=cpus, **kw),
                             stderr=self._err, stdin=subprocess.DEVNULL, env=env)
        except BaseException:
            self._err.close()
            raise

    def start_failure(self):
        return self.log_tail()

    def stop(self):
        procs.terminate(self.proc)
        self._err.close()


class ChapterServer(ListeningServer):
    def __init__(self, chapter, args, docroot, logdir, cpus=None, env=None):
        self.chapter = chapter
        super().__init__(chapter.name, [str(chapter.binary), "--port", "0", "--docroot", str(docroot),
                                        *args], logdir, cpus, env)

    def stats(self):
        response = http_get(self.address, "/stats", timeout=5)
        if response.status != 200:
            raise RuntimeError(f"GET /stats answered {response.status}")
        return json.loads(response.body)


class FloorServer(ListeningServer):
    """The kernel floor: one epoll loop, one read and one write per request, no parsing."""

    def __init__(self, bindir, logdir, close=False, cpus=None, args=(), env=None, name="floor"):
        super().__init__(name, [str(Path(bindir) / "floor"), "--port", "0", *(["--close"] if close else []),
                                *args], logdir, cpus, env)


NGINX_CONF = """\
# Generated by scripts/targets.py: nginx doing the benchmark route's job and nothing else.
{user}worker_processes {workers};
worker_rlimit_nofile {nofile};
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections {connections};
}}
http {{
    access_log off;
    default_type text/plain;
    keepalive_requests 1000000000;
    keepalive_timeout 600s;
    client_header_timeout 600s;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    server {{
        listen {host}:{port} backlog=4096;
        location / {{
            return 200 "Hello, World!";
        }}
    }}
}}
"""


def nginx_binary():
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def nginx_version():
    binary = nginx_binary()
    if not binary:
        return "not installed"
    out = subprocess.run([binary, "-v"], capture_output=True, text=True).stderr.strip()
    return out.split("/", 1)[-1] if "/" in out else out


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class NginxServer(Measured):
    """nginx on loopback with a generated config in a temporary directory, as the current user."""

    def __init__(self, workers, logdir, cpus=None, env=None):
        binary = nginx_binary()
        if not binary:
            raise RuntimeError("nginx is not installed (scripts/setup.sh bench installs nginx-light)")
        self.workers = workers
        self.name = f"nginx-{workers}w"
        self.prefix = procs.make_tempdir("bench-nginx-")
        self.errlog = self.prefix / "error.log"
        (self.prefix / "tmp").mkdir()
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        nofile = min(nofile if nofile != resource.RLIM_INFINITY else 1 << 20, 1 << 20)
        user = ""
        if os.geteuid() == 0:  # otherwise the workers would switch to "nobody"
            user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n"
        for _ in range(3):  # the free port can be taken between the probe and nginx's bind
            self.port = free_port()
            conf = self.prefix / "nginx.conf"
            conf.write_text(NGINX_CONF.format(user=user, workers=workers, nofile=nofile,
                                              connections=max(1024, nofile - 64),
                                              prefix=self.prefix, host=HOST, port=self.port))
            self.cmd = [binary, "-p", str(self.prefix), "-c", str(conf), "-e", str(self.errlog)]
            self.proc = procs.spawn(self.cmd, cpus=cpus, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env)
            self.pid = self.proc.pid
            if self._wait_ready():
                return
            procs.terminate(self.proc, grace=1)
        raise RuntimeError(f"nginx did not start: {self.log_tail()}")

    def _wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if len(self.pids()) >= 1 + self.workers:
                try:
                    response = http_get(self.address, "/", timeout=2)
                    if response.status == 200 and response.body == HELLO:
                        return True
                except OSError:
                    pass
            time.sleep(0.05)
        return False

    def stop(self):
        procs.terminate(self.proc, grace=5, sig=signal.SIGQUIT)  # graceful: workers finish, then exit
