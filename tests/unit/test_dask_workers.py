"""grader/dask_workers.py: what the plugin does to a Dask worker's own periodic callbacks for a run."""

from __future__ import annotations

import pytest

pytest.importorskip("distributed")

from grader import dask_workers  # noqa: E402


class _Callback:
    """The part of tornado's PeriodicCallback the plugin uses."""

    def __init__(self, milliseconds: float, running: bool = True):
        self.callback_time, self.running = milliseconds, running

    def is_running(self) -> bool:
        return self.running

    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        self.running = False


class _Worker:
    def __init__(self):
        self.periodic_callbacks = {"profile": _Callback(10), "profile-cycle": _Callback(1000), "tick": _Callback(20),
                                   "heartbeat": _Callback(500)}


def test_a_run_quiets_the_workers_sampling_and_the_last_run_restores_it(monkeypatch):
    """The profiler stops and the health check slows while any run is on the worker; the heartbeat
    is untouched; when the last of two overlapping runs ends, every callback is as it was."""
    monkeypatch.setattr(dask_workers, "_QUIETED", {})
    monkeypatch.setattr(dask_workers, "_WORKER_KERNELS", {})
    worker = _Worker()
    callbacks = worker.periodic_callbacks
    dask_workers._quiet(worker)
    dask_workers._WORKER_KERNELS["run-a"] = dask_workers._WorkerKernels()
    dask_workers._quiet(worker)  # a second run starts before the first ends
    dask_workers._WORKER_KERNELS["run-b"] = dask_workers._WorkerKernels()
    assert not callbacks["profile"].running and not callbacks["profile-cycle"].running
    assert callbacks["tick"].running and callbacks["tick"].callback_time == 1000
    assert callbacks["heartbeat"].running and callbacks["heartbeat"].callback_time == 500
    dask_workers.WarmWorker("run-a", None, {}, False).teardown(worker)
    assert not callbacks["profile"].running, "restored while another run was still on"
    dask_workers.WarmWorker("run-b", None, {}, False).teardown(worker)
    assert [(c.running, c.callback_time) for c in callbacks.values()] == [(True, 10), (True, 1000), (True, 20),
                                                                          (True, 500)]


def test_a_profiler_configured_off_stays_off(monkeypatch):
    """A worker started without the profiler (distributed.worker.profile.enabled: false) keeps it off."""
    monkeypatch.setattr(dask_workers, "_QUIETED", {})
    worker = _Worker()
    del worker.periodic_callbacks["profile"], worker.periodic_callbacks["profile-cycle"]
    dask_workers._quiet(worker)
    dask_workers._restore(worker)
    assert set(worker.periodic_callbacks) == {"tick", "heartbeat"}
    assert worker.periodic_callbacks["tick"].callback_time == 20
