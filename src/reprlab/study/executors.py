"""Executors run study tasks and yield each outcome as it finishes.

``local``: ``jobs`` at a time; one job runs in this process, more run in ``jobs`` spawned
worker processes, each limited to ``cores // jobs`` threads so the jobs do not oversubscribe
the machine, and each given its own GPU (``CUDA_VISIBLE_DEVICES``, round robin) when there
are GPUs. A worker that dies (killed, out of memory) fails only the run it held, with the
signal or exit code as its reason; a fresh worker takes its place and the other runs go on.
``ray``: each run is a Ray task asking for the same number of CPUs (and one GPU when the
cluster has GPUs), on the cluster at ``address`` (explicit: ``RAY_ADDRESS`` and clusters
started by ``ray start`` are not joined without it), or on a new local cluster started for
the study: every server of that
cluster (GCS, raylet, agents, driver and workers) listens on 127.0.0.1 only, there is no
dashboard unless asked (then on 127.0.0.1 too), and the cluster is shut down when the study
ends or the process gets SIGTERM or SIGINT. A task whose worker or node is lost is retried
once, then reported failed for that run only; run directories must lie on a file system
every node shares.
"""

from __future__ import annotations

import os
import signal
from collections import deque
from collections.abc import Callable, Iterator
from multiprocessing import get_context
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from reprlab.errors import ConfigError
from reprlab.rundir import RunDir
from reprlab.study.worker import execute_run, set_threads

EXECUTORS = ("local", "ray")


def cpu_count() -> int:
    """Cores this process may use (its affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def threads_per_job(jobs: int, cores: int | None = None) -> int:
    """``cores // jobs``, at least 1."""
    return max(1, (cores or cpu_count()) // max(1, jobs))


def gpu_slots(jobs: int, gpus: int) -> list[str]:
    """The GPU of each of ``jobs`` local jobs: ``0, 1, ..., gpus - 1, 0, ...`` (empty without
    GPUs)."""
    return [str(job % gpus) for job in range(jobs)] if gpus > 0 else []


def _gpu_slots_here(jobs: int) -> list[str]:
    """``gpu_slots`` for this machine (``torch.cuda.device_count`` reads the driver without
    starting CUDA here)."""
    import torch

    return gpu_slots(jobs, torch.cuda.device_count())


def see_gpu(gpu: str | None) -> None:
    """Make this process see only GPU ``gpu`` (before CUDA starts in it); ``None`` leaves the
    environment as it is."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu


def gpus_per_task(resources: dict) -> int:
    """A Ray task's ``num_gpus``: 1 on a cluster with GPUs, else 0."""
    return 1 if resources.get("GPU", 0) >= 1 else 0


def _init_worker(threads: int, gpu: str | None = None) -> None:
    """Worker set-up: die with the parent (Linux), see only GPU ``gpu`` (when given, before
    CUDA starts), and limit threads to ``threads``."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    see_gpu(gpu)
    set_threads(threads)


def _crashed(task: dict[str, Any], why: BaseException | str) -> dict[str, Any]:
    """The outcome of a run whose worker died: ``failed`` with ``why``, in its status too."""
    if isinstance(why, BaseException):
        why = f"{type(why).__name__}: {' '.join(str(why).split())}"
    reason = f"worker process died: {why}"[:500]
    RunDir(task["run_dir"]).mark_failed(reason)
    return {
        "run_id": Path(task["run_dir"]).name,
        "status": "failed",
        "reason": reason,
        "seconds": 0.0,
        "resumed": False,
        "metrics": None,
    }


def _serve(conn, threads: int, gpu: str | None = None, work: Callable = execute_run) -> None:
    """A worker: run ``work`` on each task received on ``conn`` and send its outcome back;
    ``None`` ends."""
    _init_worker(threads, gpu)
    while True:
        task = conn.recv()
        if task is None:
            return
        conn.send(work(task))


def _exit_reason(code: int | None) -> str:
    """``killed by SIGKILL`` or ``exit code N``, from a process's exit code."""
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class _Worker:
    """One spawned worker process, the pipe to it, and the task it holds (if any)."""

    def __init__(
        self, context, threads: int, gpu: str | None, work: Callable, crashed: Callable
    ) -> None:
        self.gpu, self.work, self.crashed = gpu, work, crashed  # a replacement keeps them
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, threads, gpu, work), daemon=True)
        self.process.start()
        child.close()
        self.task: dict[str, Any] | None = None

    def give(self, task: dict[str, Any]) -> None:
        self.task = task
        self.conn.send(task)

    def take(self) -> dict[str, Any]:
        """The outcome of the held task; a worker that died gives a ``failed`` one."""
        task, self.task = self.task, None
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            self.process.join(timeout=5)
            return self.crashed(task, _exit_reason(self.process.exitcode))

    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(timeout=2 if self.task is None else 0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def run_local(
    tasks: list[dict[str, Any]],
    jobs: int = 1,
    work: Callable = execute_run,
    crashed: Callable = _crashed,
) -> Iterator[dict[str, Any]]:
    """Outcomes of ``work`` (a study run by default) over ``tasks`` in completion order,
    ``jobs`` at a time; ``crashed(task, reason)`` is the outcome of a task whose worker
    died."""
    threads = threads_per_job(jobs)
    if jobs <= 1:
        import torch

        previous = torch.get_num_threads()
        try:
            for task in tasks:
                yield work({**task, "threads": threads})
        finally:
            torch.set_num_threads(previous)
        return
    context = get_context("spawn")
    queue = deque({**task, "threads": threads} for task in tasks)
    count = min(jobs, len(queue))
    gpus = _gpu_slots_here(count) or [None] * count
    workers = [_Worker(context, threads, gpu, work, crashed) for gpu in gpus]
    try:
        while True:
            for i, worker in enumerate(workers):
                if worker.task is None and queue:
                    if not worker.alive():  # died while idle: replace it
                        worker.stop()
                        workers[i] = worker = _Worker(context, threads, worker.gpu, work, crashed)
                    worker.give(queue.popleft())
            busy = [w for w in workers if w.task is not None]
            if not busy:
                return
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for i, worker in enumerate(workers):
                if worker.task is None:
                    continue
                if worker.conn in ready or worker.process.sentinel in ready:
                    if not worker.conn.poll() and worker.alive():
                        continue
                    outcome = worker.take()
                    if not worker.alive():  # the pool is rebuilt: a fresh worker
                        worker.stop()
                        workers[i] = _Worker(context, threads, worker.gpu, work, crashed)
                    yield outcome
    finally:
        for worker in workers:
            worker.stop()


LOOPBACK = "127.0.0.1"
# Ray's switch for multi-node clusters (``ray._private.ray_constants.ENABLE_RAY_CLUSTER``),
# off by default on macOS and Windows only
SINGLE_NODE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def start_local_ray(ray: Any, cpus: int, dashboard: bool = False) -> None:
    """A single-node Ray instance whose servers all listen on 127.0.0.1: no dashboard unless
    ``dashboard``, and then on 127.0.0.1 too.

    Ray turns a node address of 127.0.0.1 into the machine's own address
    (``ray._private.services.resolve_ip_for_localhost``), and its gRPC servers listen on all
    interfaces unless their node address is a loopback one (Ray 2.60). It keeps 127.0.0.1 only where
    multi-node clusters are off (``ray_constants.ENABLE_RAY_CLUSTER``, as on macOS and
    Windows), so they are turned off here while the cluster starts: in this process, and
    through the environment that its GCS, raylet, agents and workers inherit."""
    from ray._private import ray_constants

    saved_env, saved_flag = os.environ.get(SINGLE_NODE_ENV), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[SINGLE_NODE_ENV] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(
            address="local",  # a new cluster, even where RAY_ADDRESS or `ray start` name one
            num_cpus=cpus,
            include_dashboard=dashboard,
            dashboard_host=LOOPBACK,
            _node_ip_address=LOOPBACK,
            log_to_driver=False,
        )
    except Exception as error:
        if dashboard and "dashboard" in str(error).lower():
            raise ConfigError(
                f"--ray-dashboard: {' '.join(str(error).split())} Install them with "
                "pip install 'ray[default]', or run without --ray-dashboard"
            ) from None
        raise
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        if saved_env is None:
            os.environ.pop(SINGLE_NODE_ENV, None)
        else:
            os.environ[SINGLE_NODE_ENV] = saved_env


def _raise_exit(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _on_signals(handler: Any) -> dict[int, Any]:
    """Install ``handler`` for SIGTERM and SIGINT (main thread only); the previous ones."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}


def run_ray(
    tasks: list[dict[str, Any]],
    jobs: int = 1,
    address: str | None = None,
    dashboard: bool = False,
    work: Callable = execute_run,
    crashed: Callable = _crashed,
) -> Iterator[dict[str, Any]]:
    """Outcomes of ``work`` over ``tasks`` run as Ray tasks of ``cores // jobs`` CPUs each.
    A task whose worker or node dies is retried once (``max_retries``), then reported for its
    run only (``crashed``)."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--executor ray needs Ray; install it with "
            "'pip install reprlab[ray]' or use --executor local"
        ) from None
    threads = threads_per_job(jobs)
    started = False
    previous: dict[int, Any] = {}
    if not ray.is_initialized():
        # a signal ends the study through the 'finally' below, which stops the local cluster
        previous = _on_signals(_raise_exit)
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            start_local_ray(ray, threads * max(1, jobs), dashboard)
        started = True
    try:
        # a task must fit the cluster: never ask for more CPUs than it has
        threads = max(1, min(threads, int(ray.cluster_resources().get("CPU", 1))))
        gpus = gpus_per_task(ray.cluster_resources())
        remote = ray.remote(num_cpus=threads, num_gpus=gpus, max_retries=1, retry_exceptions=False)(
            work
        )
        refs = {remote.remote({**task, "threads": threads}): task for task in tasks}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                try:
                    yield ray.get(ref)
                except Exception as error:  # a lost worker, node or actor: this run only
                    yield crashed(refs[ref], error)
    finally:
        if started:
            ray.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_tasks(
    tasks: list[dict[str, Any]],
    executor: str = "local",
    jobs: int = 1,
    address: str | None = None,
    dashboard: bool = False,
    work: Callable = execute_run,
    crashed: Callable = _crashed,
) -> Iterator[dict[str, Any]]:
    """Outcomes of ``work`` (a study run by default) over ``tasks`` on ``executor``."""
    if executor == "local":
        if address:
            raise ConfigError(
                "--address applies to --executor ray only; drop it or add --executor ray"
            )
        return run_local(tasks, jobs, work, crashed)
    if executor == "ray":
        return run_ray(tasks, jobs, address, dashboard, work, crashed)
    raise ConfigError(f"unknown executor {executor!r}; valid: {', '.join(EXECUTORS)}")
