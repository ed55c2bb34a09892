"""The secret corpus of the redaction tests (tests/unit/state/test_redact.py: fake secrets
shaped like real ones, each in the context it is found in), for tests of other outputs
that must never hold a secret. Loaded from that file, so that there is one corpus."""

from __future__ import annotations

import importlib.util
from typing import Any

from support import TESTS


def corpus() -> list[tuple[str, Any, str, str]]:
    """(context, rendered text or argv, the secret's distinctive part, kind)."""
    path = TESTS / "unit" / "state" / "test_redact.py"
    spec = importlib.util.spec_from_file_location("_redact_corpus", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cases: list[tuple[str, Any, str, str]] = module.CASES
    return cases
