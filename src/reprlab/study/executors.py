"""Executors run study tasks and yield each outcome as it finishes.

``local``: ``jobs`` at a time; one job runs in this process, more run in a pool of spawned
processes, each limited to ``cores // jobs`` threads so the jobs do not oversubscribe the
machine, and each given its own GPU (``CUDA_VISIBLE_DEVICES``, round robin) when there are
GPUs. ``ray``: each run is a Ray task asking for the same number of CPUs, and one GPU when the
cluster has GPUs, on the cluster at
``address`` (a local Ray instance when none is given); run directories must then lie on a
file system every node shares.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
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


def _gpu_queue(context, jobs: int):
    """A queue of ``gpu_slots`` for the pool's workers to take one each; ``None`` without
    GPUs (``torch.cuda.device_count`` reads the driver without starting CUDA here)."""
    import torch

    slots = gpu_slots(jobs, torch.cuda.device_count())
    if not slots:
        return None
    queue = context.Queue()
    for slot in slots:
        queue.put(slot)
    return queue


def claim_gpu(queue) -> None:
    """Make this process see only the next GPU of ``queue`` (before CUDA starts in it)."""
    if queue is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = queue.get()


def gpus_per_task(resources: dict) -> int:
    """A Ray task's ``num_gpus``: 1 on a cluster with GPUs, else 0."""
    return 1 if resources.get("GPU", 0) >= 1 else 0


def _init_worker(threads: int, gpus=None) -> None:
    """Pool initializer: die with the parent (Linux), limit threads to ``threads``, and take
    a GPU from the ``gpus`` queue when there is one."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass
    claim_gpu(gpus)
    set_threads(threads)


def _crashed(task: dict[str, Any], error: BaseException) -> dict[str, Any]:
    reason = f"worker process died: {type(error).__name__}: {error}"[:500]
    RunDir(task["run_dir"]).mark_failed(reason)
    return {
        "run_id": Path(task["run_dir"]).name,
        "status": "failed",
        "reason": reason,
        "seconds": 0.0,
        "resumed": False,
        "metrics": None,
    }


def run_local(tasks: list[dict[str, Any]], jobs: int = 1) -> Iterator[dict[str, Any]]:
    """Outcomes of ``tasks`` in completion order, ``jobs`` at a time."""
    threads = threads_per_job(jobs)
    if jobs <= 1:
        import torch

        previous = torch.get_num_threads()
        try:
            for task in tasks:
                yield execute_run({**task, "threads": threads})
        finally:
            torch.set_num_threads(previous)
        return
    context = get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=context,
        initializer=_init_worker,
        initargs=(threads, _gpu_queue(context, jobs)),
    ) as pool:
        futures = {pool.submit(execute_run, {**task, "threads": threads}): task for task in tasks}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                try:
                    yield future.result()
                except Exception as error:
                    yield _crashed(futures[future], error)


def run_ray(
    tasks: list[dict[str, Any]], jobs: int = 1, address: str | None = None
) -> Iterator[dict[str, Any]]:
    """Outcomes of ``tasks`` run as Ray tasks of ``cores // jobs`` CPUs each."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--executor ray needs Ray; install it with "
            "'pip install reprlab[ray]' or use --executor local"
        ) from None
    threads = threads_per_job(jobs)
    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=threads * max(1, jobs), include_dashboard=False, log_to_driver=False)
        started = True
    try:
        # a task must fit the cluster: never ask for more CPUs than it has
        threads = max(1, min(threads, int(ray.cluster_resources().get("CPU", 1))))
        gpus = gpus_per_task(ray.cluster_resources())
        remote = ray.remote(num_cpus=threads, num_gpus=gpus, max_retries=0)(execute_run)
        refs = {remote.remote({**task, "threads": threads}): task for task in tasks}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                try:
                    yield ray.get(ref)
                except Exception as error:
                    yield _crashed(refs[ref], error)
    finally:
        if started:
            ray.shutdown()


def run_tasks(
    tasks: list[dict[str, Any]], executor: str = "local", jobs: int = 1, address: str | None = None
) -> Iterator[dict[str, Any]]:
    if executor == "local":
        if address:
            raise ConfigError(
                "--address applies to --executor ray only; drop it or add --executor ray"
            )
        return run_local(tasks, jobs)
    if executor == "ray":
        return run_ray(tasks, jobs, address)
    raise ConfigError(f"unknown executor {executor!r}; valid: {', '.join(EXECUTORS)}")
