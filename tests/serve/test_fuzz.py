"""Property-based fuzzing of the OpenAPI schema (schemathesis): no request makes a 500."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from genforge.serve import Settings, create_app


def test_no_server_errors(runs_dir):
    app = create_app(Settings(runs_dir=runs_dir, start_worker=False, rate_limit_per_min=10**6,
                              rate_burst=10**6, max_n=2))  # fmt: skip
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    tried = 0
    for result in schema.get_all_operations():
        op = result.ok()

        @given(case=op.as_strategy())
        @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)  # fmt: skip
        def fuzz(case):
            if case.method == "DELETE":  # keep the fixture runs for the other operations
                case.path_parameters = {k: "does-not-exist" for k in case.path_parameters or {}}
            case.call_and_validate(checks=[not_a_server_error])

        fuzz()
        tried += 1
    assert tried >= 20  # every endpoint was fuzzed
