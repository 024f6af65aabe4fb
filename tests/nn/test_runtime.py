"""The run-time choices every stage shares: usable CPUs, torch threads, the device."""
import os

import torch

from apq.nn.runtime import pick_device, torch_threads, usable_cpus


def test_usable_cpus_prefers_the_process_count(monkeypatch):
    monkeypatch.setattr(os, "process_cpu_count", lambda: 3, raising=False)
    assert usable_cpus() == 3


def test_usable_cpus_reads_the_affinity_without_process_cpu_count(monkeypatch):
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
    assert usable_cpus() == 3


def test_usable_cpus_falls_back_to_the_machine_count_on_macos_and_windows(monkeypatch):
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert usable_cpus() == 1
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert usable_cpus() == 6


def test_torch_threads_sets_and_restores():
    before = torch.get_num_threads()
    with torch_threads(before + 1) as inside:
        assert inside == torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before
    with torch_threads(0) as inside:  # 0: leave it as it is
        assert inside == before
    assert torch.get_num_threads() == before


def test_pick_device_takes_a_given_device_else_cuda_when_present(monkeypatch):
    assert pick_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == torch.device("cuda")
