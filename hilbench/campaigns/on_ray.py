"""A sweep's runs as Ray tasks: on a local Ray instance, or on a cluster (``hilbench sweep --ray``).

Each run is one task (``run_one``, the same function the process pool runs, so the rows are the
same); Ray ships the sweep to the workers through its object store once, places the tasks, and
runs a task again elsewhere when its worker dies (``max_retries``): a run finishes once, its row
comes back once.  No queue, protocol or scheduler here: ``ray.wait`` hands back each task as it
finishes.  Ray is an optional extra (``pip install 'hilbench[ray]'``), imported only here and only
when a sweep asks for it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import ConfigError
from .execute import run_one
from .sweep_file import Run, Sweep

#: How many times Ray runs a task again after its worker died (a killed process, a lost node).
MAX_RETRIES = 3
#: ``--ray local``: start a Ray instance on this machine for the sweep (and stop it after).
LOCAL = "local"


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(None, "--ray", "Ray is not installed: pip install 'hilbench[ray]'") from None
    return ray


def run_all_on_ray(sweep: Sweep, runs: Sequence[Run], address: str) -> Iterator[dict[str, Any]]:
    """The rows of ``runs`` as their Ray tasks finish.

    ``address``: ``local`` (a Ray instance started here for the sweep), ``auto`` (the cluster this
    machine belongs to) or a cluster's address (``ray://host:10001``, ``host:6379``).

    Raises:
        ConfigError: Ray is not installed, or no cluster answers at ``address``.
    """
    ray = _ray()
    started_here = not ray.is_initialized()
    if started_here:
        try:
            if address == LOCAL:
                ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(None, "--ray", f"no Ray cluster at {address!r}: {exc}") from None
    try:
        task = ray.remote(max_retries=MAX_RETRIES)(run_one)
        shared = ray.put(sweep)
        pending = [task.remote(shared, run) for run in runs]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started_here:
            ray.shutdown()


__all__ = ["LOCAL", "MAX_RETRIES", "run_all_on_ray"]
