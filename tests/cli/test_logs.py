"""The command line's logging: library info as plain lines on stdout, warnings on stderr, records still propagate."""

import logging
from collections.abc import Iterator

import pytest

from unibind.cli.logs import configure_logging


@pytest.fixture
def unibind_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("unibind")
    handlers, level = list(logger.handlers), logger.level
    for handler in handlers:
        logger.removeHandler(handler)
    yield logger
    logger.handlers[:] = handlers
    logger.setLevel(level)


def test_info_goes_to_stdout_and_warnings_to_stderr_once(
    unibind_logger: logging.Logger, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging()
    configure_logging()
    assert len(unibind_logger.handlers) == 2
    log = logging.getLogger("unibind.datasets.example")
    log.debug("not shown")
    log.info("indexed %d items", 3)
    log.warning("skipping %s", "row 2")
    assert capsys.readouterr() == ("indexed 3 items\n", "skipping row 2\n")
    assert [record.getMessage() for record in caplog.records] == ["indexed 3 items", "skipping row 2"]


def test_the_streams_are_looked_up_when_a_record_arrives(
    unibind_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    import contextlib
    import io

    configure_logging()
    redirected = io.StringIO()
    with contextlib.redirect_stdout(redirected):
        logging.getLogger("unibind.x").info("into the redirect")
    assert redirected.getvalue() == "into the redirect\n"
    assert capsys.readouterr().out == ""
