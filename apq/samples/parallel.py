"""Where sample evaluations run: joblib on this machine (loky) or on a cluster (dask, ray).

All three go through joblib's ``Parallel``, so the generation code is the same; the backend only
decides which processes run :func:`apq.samples.evaluate.run_sample`.

- ``loky`` (default): ``--jobs`` worker processes here.
- ``dask``: a dask.distributed cluster at ``--address`` (``tcp://host:8786``), or a local
  cluster of ``--jobs`` single-threaded worker processes when no address is given. Workers must
  see the same supernet file and dataset paths (a shared file system or the same layout).
- ``ray``: a ray cluster at ``--address`` (or a local one), through ray's joblib backend.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager

from joblib import parallel_config

from apq.errors import UserError
from apq.extras import require_extra

log = logging.getLogger(__name__)
BACKENDS = ("loky", "dask", "ray")


#: The optional extra each backend needs, and the modules that make it: (extra, modules).
BACKEND_EXTRAS = {"dask": ("cluster", ("dask.distributed",)), "ray": ("ray", ("ray", "ray.util.joblib"))}


def require_backend(backend: str) -> None:
    """UserError naming the extra to install when ``backend``'s packages cannot be imported."""
    if backend in BACKEND_EXTRAS:
        extra, modules = BACKEND_EXTRAS[backend]
        require_extra(modules, extra, f"--backend {backend}")


@contextmanager
def backend_context(backend: str, jobs: int, address: str | None = None):
    """Context in which ``joblib.Parallel(n_jobs=jobs)`` runs on ``backend``."""
    if backend not in BACKENDS:
        raise UserError(f"unknown backend '{backend}'; choose one of {', '.join(BACKENDS)}")
    if address and backend == "loky":
        raise UserError("--address needs --backend dask or ray (loky runs on this machine only)")
    runner = {"loky": _loky, "dask": _dask, "ray": _ray}[backend]
    with runner(jobs, address):
        yield


@contextmanager
def _loky(jobs: int, address):
    with parallel_config(backend="loky", n_jobs=jobs):
        yield


@contextmanager
def _dask(jobs: int, address: str | None):
    require_backend("dask")
    from dask.distributed import Client, LocalCluster

    cluster = None if address else LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                                dashboard_address=None, host="127.0.0.1")
    try:
        client = Client(address or cluster, timeout="30s")
    except OSError as err:
        if cluster is not None:
            cluster.close()
        raise UserError(f"cannot reach the dask scheduler at {address}: {err}; check --address") from None
    log.info("dask cluster %s: %d workers", address or "local", len(client.scheduler_info()["workers"]))
    try:
        with parallel_config(backend="dask", n_jobs=jobs):
            yield
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@contextmanager
def _ray(jobs: int, address: str | None):
    require_backend("ray")
    import ray
    from ray.util.joblib import register_ray

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, num_cpus=None if address else jobs)
    register_ray()
    try:
        with parallel_config(backend="ray", n_jobs=jobs):
            yield
    finally:
        if started_here:
            ray.shutdown()
