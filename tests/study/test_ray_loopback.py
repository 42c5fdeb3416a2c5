"""The local Ray cluster of ``--executor ray``: every socket its processes listen on is on
loopback, and none is left once the study ends or its driver gets SIGTERM or SIGINT (issue 14,
point 3). After SIGKILL of the driver, GCS and raylet die at once but Ray's agents live up to
about a minute (they try to tell the dead GCS, with a fixed 60 s timeout, that the raylet died:
``ray/_private/process_watcher.py`` ``_check_parent``, ``ray/_private/utils.py``
``publish_error_to_driver``), the runtime-env agent still listening, on loopback.

Sockets are read from ``/proc`` (Linux): ``/proc/net/{tcp,tcp6,udp,udp6}`` for the bound
addresses, ``/proc/PID/fd`` for the processes that hold them."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tests.study.test_runner import ROOT

from reprlab.rundir import RunDir
from reprlab.study.executors import SINGLE_NODE_ENV, run_ray

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/net/tcp").is_file(), reason="needs Linux /proc"),
]


def _descendants(root: int) -> list[int]:
    """Every living process below ``root`` (by parent ids in /proc)."""
    parents = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            parents[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, ppid in parents.items() if ppid in frontier]
        found += children
        frontier = children
    return found


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def _name(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "comm").read_text().strip()
    except OSError:
        return "?"


def _address(field: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    """``HEXADDR:HEXPORT`` of /proc/net, whose address is 32-bit words in host (little-endian)
    order."""
    host, port = field.split(":")
    raw = bytes.fromhex(host)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(words), int(port, 16)


def _listening(pids: list[int]) -> list[tuple[int, str, object, int]]:
    """``(pid, name, address, port)`` of each listening TCP socket and bound UDP socket that
    ``pids`` hold."""
    owner = {}
    for pid in pids:
        try:
            for fd in (Path("/proc") / str(pid) / "fd").iterdir():
                try:
                    link = os.readlink(fd)
                except OSError:
                    continue
                if link.startswith("socket:["):
                    owner[link[len("socket:[") : -1]] = pid
        except OSError:
            continue
    found = []
    for table, state in (("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")):
        try:
            rows = (Path("/proc/net") / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == state and fields[9] in owner:  # 0A: LISTEN, 07: UDP unconnected
                pid = owner[fields[9]]
                found.append((pid, _name(pid), *_address(fields[1])))
    return found


def _on_loopback(host) -> bool:
    """127.0.0.0/8 or ::1, also as an IPv4-mapped IPv6 address (``::ffff:127.0.0.1``); the
    wildcards 0.0.0.0 and :: are not."""
    mapped = getattr(host, "ipv4_mapped", None)
    return (mapped or host).is_loopback


def test_proc_addresses_are_decoded():
    """The /proc/net encodings of 127.0.0.1:80, 0.0.0.0:22, [::]:443, [::ffff:127.0.0.1]:1."""
    assert _address("0100007F:0050") == (ipaddress.ip_address("127.0.0.1"), 80)
    assert _address("00000000:0016") == (ipaddress.ip_address("0.0.0.0"), 22)
    assert _address("0" * 32 + ":01BB") == (ipaddress.ip_address("::"), 443)
    mapped = _address("0000000000000000FFFF00000100007F:0001")[0]
    assert mapped == ipaddress.ip_address("::ffff:127.0.0.1")
    assert _on_loopback(mapped) and _on_loopback(ipaddress.ip_address("::1"))
    assert not any(_on_loopback(ipaddress.ip_address(a)) for a in ("0.0.0.0", "::", "10.0.0.1"))


def _where(task: dict) -> dict:
    """A Ray task: the id of its task and the process that ran it."""
    return {"run_id": task["run_id"], "pid": os.getpid()}


def _gone(pids: list[int], seconds: float) -> tuple[list[int], list]:
    """Wait up to ``seconds`` until none of ``pids[1:]`` lives and none of ``pids`` listens;
    what is left then."""
    deadline = time.time() + seconds
    while True:
        left = (_alive(pids[1:]), _listening(pids))
        if left == ([], []) or time.time() > deadline:
            return left
        time.sleep(0.2)


def _assert_loopback_cluster(pids: list[int]) -> None:
    sockets = _listening(pids)
    names = {name for _, name, _, _ in sockets}
    assert {"gcs_server", "raylet"} <= names, sockets  # the cluster's servers were seen
    assert pids[0] in {pid for pid, *_ in sockets}, sockets  # and the driver's
    assert [s for s in sockets if not _on_loopback(s[2])] == []


def test_local_cluster_listens_on_loopback_only_and_stops(monkeypatch):
    """Every server of the executor's local cluster (GCS, raylet, agents, driver, workers)
    is on loopback, and none is left a few seconds after the study ends; without an address
    the cluster is a new one, whatever RAY_ADDRESS says."""
    ray = pytest.importorskip("ray")
    assert not ray.is_initialized()
    # workers import this module to run ``_where``
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), *sys.path]))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:9")  # joined only when --address says so
    before = os.environ.get(SINGLE_NODE_ENV)
    from tests.study.test_ray_loopback import _where  # by a name the workers can import

    # children this process had before (e.g. multiprocessing's resource tracker, started by
    # an earlier test in the same session) are not Ray's
    earlier = set(_descendants(os.getpid()))
    outcomes = run_ray([{"run_id": "a"}, {"run_id": "b"}], jobs=1, work=_where)
    first = next(outcomes)  # the cluster is up while outcomes are pending
    cluster = [os.getpid(), *(p for p in _descendants(os.getpid()) if p not in earlier)]
    assert first["pid"] in cluster
    _assert_loopback_cluster(cluster)
    assert os.environ.get(SINGLE_NODE_ENV) == before  # the setting did not leak
    rest = list(outcomes)
    assert sorted(o["run_id"] for o in [first, *rest]) == ["a", "b"]
    assert not ray.is_initialized()
    assert _gone(cluster, 10) == ([], []), "Ray processes outlived the study"


@contextmanager
def _study_driver(out: Path) -> Iterator[tuple[subprocess.Popen, list[int]]]:
    """A ``--executor ray`` study in a child process, once its first run has trained an epoch:
    the process and its cluster (itself first); on leaving, whatever of it lives is killed."""
    script = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from tests.study.test_runner import _spec, _run\n"
        f"_run(_spec(seeds=(0,), epochs=50, sleep=0.5), {str(out)!r}, executor='ray')\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_AUTH_MODE": "disabled",
           "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    cluster = [proc.pid]
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not any(
            RunDir(r).read_status().get("epoch", 0) >= 1 for r in out.glob("runs/*")
        ):
            assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
            time.sleep(0.2)
        cluster += _descendants(proc.pid)
        yield proc, cluster
    finally:
        for pid in _alive(cluster):
            os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_local_cluster_stops_on_signal(tmp_path, sig):
    """A study's driver stopped by SIGTERM or SIGINT takes its whole local cluster with it: no
    Ray process lives or listens a few seconds later (the cluster once outlived its driver)."""
    pytest.importorskip("ray")
    with _study_driver(tmp_path / "study") as (proc, cluster):
        _assert_loopback_cluster(cluster)
        proc.send_signal(sig)
        proc.wait(timeout=30)
        assert proc.returncode != 0
        assert _gone(cluster, 10) == ([], []), "Ray processes outlived the study"


def test_killed_driver_leaves_nothing_listening_off_loopback(tmp_path):
    """After SIGKILL of the driver, its GCS and raylet end within seconds; Ray's agents may
    linger (see the module's docstring), but nothing listens off loopback."""
    pytest.importorskip("ray")
    with _study_driver(tmp_path / "study") as (proc, cluster):
        _assert_loopback_cluster(cluster)
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.time() + 10
        while time.time() < deadline and {"gcs_server", "raylet"} & _names(cluster):
            time.sleep(0.2)
        assert not {"gcs_server", "raylet"} & _names(cluster)
        assert [s for s in _listening(cluster) if not _on_loopback(s[2])] == []


def _names(pids: list[int]) -> set[str]:
    return {_name(pid) for pid in _alive(pids)}


def test_a_dashboard_that_cannot_start_is_a_one_line_config_error():
    """Ray without its dashboard packages refuses include_dashboard=True with a traceback;
    --ray-dashboard then gives one line that names the fix."""
    from reprlab.errors import ConfigError
    from reprlab.study.executors import start_local_ray

    class NoDashboard:
        def init(self, **kwargs):
            assert kwargs["include_dashboard"] and kwargs["_node_ip_address"] == "127.0.0.1"
            raise RuntimeError("Cannot include dashboard with missing packages.")

    with pytest.raises(ConfigError, match=r"--ray-dashboard: .*ray\[default\]") as caught:
        start_local_ray(NoDashboard(), 1, dashboard=True)
    assert "\n" not in str(caught.value)
