"""The processes the tools start, and what they cost: every child is recorded and killed when the
script exits (normally, on an exception, on Ctrl-C, SIGTERM or SIGHUP); /proc says how much memory,
CPU, descriptors and context switches a process tree uses.
"""

import atexit
import os
import resource
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path


_children = []  # Popen objects, each the leader of its own process group
_tempdirs = []
_SETPRIV = shutil.which("setpriv")


def spawn(cmd, cpus=None, **kwargs):
    """Popen in a new session (so the whole group, forked children included, can be killed),
    through setpriv --pdeathsig KILL where util-linux has it: the child then dies with this
    script even if the script is killed by SIGKILL. With cpus (a list of CPU numbers) the process
    and every thread it starts run on those CPUs only (taskset). No preexec_fn: it is unsafe with
    threads."""
    kwargs.setdefault("start_new_session", True)
    cmd = list(cmd)
    if cpus:
        cmd = ["taskset", "-c", ",".join(str(c) for c in cpus)] + cmd
    if _SETPRIV:
        cmd = [_SETPRIV, "--pdeathsig", "KILL", "--"] + cmd
    proc = subprocess.Popen(cmd, **kwargs)
    _children.append(proc)
    return proc


def kill_group(proc, sig=signal.SIGKILL):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def forget(proc):
    if proc in _children:
        _children.remove(proc)


def terminate(proc, grace=5.0, sig=signal.SIGTERM):
    """Asks proc to stop, waits up to grace seconds, then kills its whole process group."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(timeout=grace)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            pass
    kill_group(proc)  # leftovers: a forking server's children, nginx workers
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    forget(proc)


def cleanup():
    for proc in list(_children):
        kill_group(proc)
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
    _children.clear()
    for path in _tempdirs:
        shutil.rmtree(path, ignore_errors=True)
    _tempdirs.clear()


def _on_signal(signo, _frame):
    raise SystemExit(128 + signo)


def install_cleanup():
    """Kill every started process at exit, and turn SIGTERM/SIGHUP into a normal exit."""
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)


def make_tempdir(prefix):
    path = Path(tempfile.mkdtemp(prefix=prefix))
    _tempdirs.append(path)
    return path


def raise_nofile():
    """Raises the soft descriptor limit to the hard one (servers started later inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def usable_cpus():
    """The CPUs this process may run on (its affinity mask, not the machine's count)."""
    return sorted(os.sched_getaffinity(0))


# --- /proc ------------------------------------------------------------------------------------


def status_field(path, key):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory_kib(pids):
    """Resident memory of a set of processes, as PSS (proportional set size): a page shared by
    n processes counts 1/n in each, so forked children's shared pages count once in the sum.
    Falls back to VmRSS where smaps_rollup is not readable. User memory only: the kernel's own
    per-socket memory is not in it."""
    total = 0
    for pid in pids:
        pss = status_field(f"/proc/{pid}/smaps_rollup", "Pss:")
        total += pss if pss else status_field(f"/proc/{pid}/status", "VmRSS:")
    return total


def kernel_task_kib():
    """The kernel's memory for tasks, machine-wide: KernelStack (one stack per thread, 16 KiB on
    x86-64) plus PageTables, from /proc/meminfo. PSS leaves both out, and a process or a thread per
    connection pays them per connection. Machine-wide, so a difference is only as clean as the
    machine is quiet."""
    return status_field("/proc/meminfo", "KernelStack:") + status_field("/proc/meminfo", "PageTables:")


def context_switches(pids):
    """(voluntary, nonvoluntary) context switches summed over every thread of pids."""
    vol = nonvol = 0
    for tid_status in _task_status_paths(pids):
        vol += status_field(tid_status, "voluntary_ctxt_switches:")
        nonvol += status_field(tid_status, "nonvoluntary_ctxt_switches:")
    return vol, nonvol


def _task_status_paths(pids):
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            yield f"/proc/{pid}/task/{tid}/status"


def fd_total(pids):
    total = 0
    for pid in pids:
        try:
            total += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
    return total


def all_tids(pids):
    tids = []
    for pid in pids:
        try:
            tids += [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        except OSError:
            continue
    return tids


def traced(tid):
    return status_field(f"/proc/{tid}/status", "TracerPid:") != 0
