"""need(): the one way a test skips; under CI it fails for a capability CI must have."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest

from tests.conftest import CI_MUST_HAVE, ROOT, check_need_markers, need


class _Item:
    """What check_need_markers reads of a pytest.Item: its ``need`` markers."""

    def __init__(self, *marks: Any) -> None:
        self.marks = marks

    def iter_markers(self, name: str) -> Any:
        return iter(m for m in self.marks if m.name == name)


def _mark(capability: str, have: bool) -> Any:
    return SimpleNamespace(name="need", args=(capability, "the reason"), kwargs={"have": have})


def test_outside_ci_a_missing_capability_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"\[helm\] no helm here"):
        need("helm", "no helm here")


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_under_ci_a_capability_ci_must_have_fails(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    for capability in ("helm", "tools", "chromium", "sshd", "checkov", "policies-venv", "actionlint", "shellcheck"):
        with pytest.raises(pytest.fail.Exception, match="CI must have") as failed:
            need(capability, f"no {capability} here")
        assert f"no {capability} here" in str(failed.value)


def test_under_ci_what_ci_need_not_have_still_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "1")
    assert "whole-module" not in CI_MUST_HAVE
    with pytest.raises(pytest.skip.Exception):
        need("whole-module", "only part of the module ran")
    monkeypatch.setenv("CI", "false")  # CI=false / CI=0: not a CI run
    with pytest.raises(pytest.skip.Exception):
        need("helm", "no helm here")


def test_the_marker_goes_through_need(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    check_need_markers(_Item(_mark("mirror", True)))  # have it: nothing happens
    with pytest.raises(pytest.skip.Exception, match=r"\[mirror\]"):
        check_need_markers(_Item(_mark("mirror", True), _mark("mirror", False)))
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI must have"):
        check_need_markers(_Item(_mark("mirror", False)))


def test_no_test_skips_any_other_way() -> None:
    """pytest.skip / skipif / importorskip / mark.skip / xfail only inside need() itself."""
    pattern = re.compile(r"pytest\.(skip\(|importorskip|mark\.skip|mark\.xfail|xfail\()")
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line) and path.name != "conftest.py" and path.name != "test_need.py"
    ]
    assert found == []
    conftest = (ROOT / "tests" / "conftest.py").read_text()
    assert len(pattern.findall(conftest)) == 1  # the one in need()
