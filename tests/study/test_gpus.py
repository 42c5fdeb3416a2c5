"""One GPU per run: the GPU each local job sees, and the GPUs a Ray task asks for."""

import os

import pytest

from reprlab.study.executors import gpu_slots, gpus_per_task, see_gpu


def test_gpu_slots_go_round_robin_and_are_empty_without_gpus():
    assert gpu_slots(4, 2) == ["0", "1", "0", "1"]
    assert gpu_slots(3, 8) == ["0", "1", "2"]
    assert gpu_slots(4, 0) == []


def test_a_worker_sees_only_its_gpu(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    see_gpu(None)  # no GPUs: the environment is left as it is
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    see_gpu("1")
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"


@pytest.mark.parametrize(("resources", "gpus"), [({"CPU": 8}, 0), ({"CPU": 8, "GPU": 4.0}, 1)])
def test_a_ray_task_asks_for_one_gpu_on_a_cluster_with_gpus(resources, gpus):
    assert gpus_per_task(resources) == gpus
