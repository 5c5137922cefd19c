"""The quickstart's stage runner: stages left out, skipped with a reason, timed, nested."""

import logging
from pathlib import Path

import pytest

from unibind.quickstart.stages import Stage, run_stages, stage_list
from unibind.quickstart.state import Options, Quickstart


def _run(progress: bool = False) -> Quickstart:
    options = Options(
        out=Path("unused"),
        corpus_dir=None,
        epochs=0,
        progress=progress,
        english_minilm=False,
        with_speech=False,
        with_sounds=True,
        sounds_dir=None,
        with_motion=False,
        motion_dir=None,
        with_graph=False,
        graph_epochs=0,
        index_backend="exact",
    )
    return Quickstart(options)


def _missing_sounds(run: Quickstart) -> None:
    raise FileNotFoundError("no soundfont")


def test_stages_run_in_order_skip_with_a_reason_and_are_timed(caplog: pytest.LogCaptureFixture) -> None:
    done = []
    stages = (
        Stage("first", lambda run: done.append("first"), "first_s"),
        Stage("off", lambda run: done.append("off"), "off_s", wanted=lambda run: run.options.with_motion),
        Stage("labelled sounds", _missing_sounds, "sounds_s", skip_on=(FileNotFoundError,)),
        Stage("espeak", lambda run: done.append("espeak"), missing=lambda run: "espeak-ng is not installed"),
        stage_list("both", (Stage("inner", lambda run: done.append("inner"), "inner_s"),), "both_s"),
    )
    run = _run()
    with caplog.at_level(logging.INFO, logger="unibind"):
        run_stages(run, stages)
    assert done == ["first", "inner"]
    assert list(run.timings) == ["first_s", "sounds_s", "inner_s", "both_s"]  # a left-out stage is not timed
    assert run.timings["both_s"] >= run.timings["inner_s"] >= 0
    assert caplog.messages == ["labelled sounds skipped: no soundfont", "espeak skipped: espeak-ng is not installed"]


def test_other_errors_stop_the_run() -> None:
    with pytest.raises(FileNotFoundError):
        run_stages(_run(), (Stage("labelled sounds", _missing_sounds),))


def test_progress_logs_each_stage_and_its_time(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="unibind"):
        run_stages(_run(progress=True), (Stage("first", lambda run: None),))
    assert len(caplog.messages) == 1
    assert caplog.messages[0].startswith("first: ")
