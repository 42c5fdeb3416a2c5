"""One GPU per run: the GPU each local job sees, and the GPUs a Ray task asks for."""

import os
import queue

import pytest

from reprlab.study.executors import claim_gpu, gpu_slots, gpus_per_task


def test_gpu_slots_go_round_robin_and_are_empty_without_gpus():
    assert gpu_slots(4, 2) == ["0", "1", "0", "1"]
    assert gpu_slots(3, 8) == ["0", "1", "2"]
    assert gpu_slots(4, 0) == []


def test_each_worker_claims_the_next_gpu(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    slots = queue.Queue()
    for slot in gpu_slots(2, 2):
        slots.put(slot)
    claim_gpu(slots)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0"
    claim_gpu(slots)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"
    claim_gpu(None)  # no GPUs: the environment is left as it is
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"


@pytest.mark.parametrize(("resources", "gpus"), [({"CPU": 8}, 0), ({"CPU": 8, "GPU": 4.0}, 1)])
def test_a_ray_task_asks_for_one_gpu_on_a_cluster_with_gpus(resources, gpus):
    assert gpus_per_task(resources) == gpus
