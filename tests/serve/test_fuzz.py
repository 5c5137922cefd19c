"""Property-based fuzzing of the serve API from its own OpenAPI schema (schemathesis, in process over ASGI).

Every operation gets schema-valid (positive) and schema-breaking (negative) requests: bodies, uploads, path
ids, form fields. No answer may be a 5xx, and every answer must match the status codes, content types and
bodies the schema documents. Hypothesis drives each operation's strategy directly: schemathesis 4.32's
pytest fixture loader does not run under pytest 9 (it reads ``Function._nodeid``, which pytest 9 removed).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from unibind.serve import SearchEngine, create_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 30  # per operation and generation mode


@pytest.mark.parametrize("mode", list(GenerationMode))
def test_no_server_errors(engine: SearchEngine, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(engine))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 7
    for operation in operations:
        if mode == GenerationMode.NEGATIVE and not operation.body:
            continue  # no input, or a free-form path id (any string is valid): nothing schema-invalid to send

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=CHECKS)

        check()
