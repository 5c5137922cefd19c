"""The quickstart as a list of stages, and the one helper that runs them: it leaves out the stages the options turn
off, skips (and says why) those that cannot run here, times each stage and logs progress."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from unibind.quickstart.state import Quickstart

log = logging.getLogger(__name__)


def _always(run: Quickstart) -> bool:
    return True


def _nothing_missing(run: Quickstart) -> str | None:
    return None


@dataclass(frozen=True)
class Stage:
    """One step of the quickstart.

    ``run`` reads and fills the :class:`~unibind.quickstart.state.Quickstart`; ``timing``: the key its wall time
    goes under in ``metrics.json``'s ``timings`` (skipped stages are timed too). ``wanted``: False leaves the
    stage out without a word (an option turned it off, or an earlier stage made nothing for it). ``missing``:
    why it cannot run here (a system package is not installed), and ``skip_on``: errors that mean the same (an
    optional corpus is missing); either way the log says ``"{name} skipped: {reason}"`` and the run goes on.
    """

    name: str
    run: Callable[[Quickstart], None]
    timing: str | None = None
    wanted: Callable[[Quickstart], bool] = _always
    missing: Callable[[Quickstart], str | None] = _nothing_missing
    skip_on: tuple[type[Exception], ...] = field(default=())


def run_stages(run: Quickstart, stages: Sequence[Stage]) -> None:
    """Run ``stages`` in order on ``run`` (a stage may run a list of its own: its time includes theirs)."""
    for stage in stages:
        if not stage.wanted(run):
            continue
        start = time.perf_counter()
        reason = stage.missing(run)
        if reason is None:
            try:
                stage.run(run)
            except stage.skip_on as err:
                reason = str(err)
        if reason is not None:
            log.info("%s skipped: %s", stage.name, reason)
        elapsed = time.perf_counter() - start
        if stage.timing is not None:
            run.timings[stage.timing] = elapsed
        log.log(logging.INFO if run.options.progress else logging.DEBUG, "%s: %.1f s", stage.name, elapsed)


def stage_list(name: str, stages: Sequence[Stage], timing: str | None = None) -> Stage:
    """A stage that runs ``stages`` (timed together under ``timing``)."""
    return Stage(name, lambda run: run_stages(run, stages), timing)
