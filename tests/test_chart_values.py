"""Every Helm values key aistack sets exists in the chart it goes to (Helm ignores unknown keys silently).

For each example stack, with upstream installs on and the charts taken from the shared air-gapped
mirror (the pinned .tgz files), the real program is planned under mocks and every Chart resource's
values are checked against that chart's values.yaml, its subcharts' and its values.schema.json.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.chart_values import Chart, load_chart, schema_errors, unknown_keys
from tests.conftest import EXAMPLE_STACKS, ROOT, plan_values, stack_values

MIRROR = (ROOT.parent / "shared" / "mirror").resolve()
CHART = "kubernetes:helm.sh/v4:Chart"

pytestmark = pytest.mark.need("mirror", f"no {MIRROR} (the pinned charts) here", have=MIRROR.is_dir())


@cache
def charts_of(stack: str) -> tuple[tuple[str, Path, dict[str, Any], dict[str, Any]], ...]:
    """(resource name, mirror .tgz, values, all inputs) of every Chart the stack installs, upstream installs on."""
    values = stack_values(stack)
    if values["target"] == "gcp":
        values.setdefault("project", "acme-ml-prod")  # the stack file's gcp:project, outside aistack:*
    values["upstream"] = {
        **values.get("upstream", {}),
        "install": True,
        "charts_mirror": str(MIRROR),
        "manifests_mirror": str(MIRROR),
    }
    out = []
    for r in plan_values(values, stack=stack):
        if r.type == CHART:
            out.append((r.name, Path(r.inputs["chart"]), r.inputs.get("values") or {}, r.inputs))
    return tuple(out)


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_every_values_key_exists_in_its_chart(stack: str) -> None:
    charts = charts_of(stack)
    assert charts, f"{stack} installs no chart with upstream.install on"
    problems = []
    for name, tgz, values, _ in charts:
        assert tgz.is_file(), f"{name}: {tgz} is not in the mirror"
        chart = load_chart(tgz)
        problems += [f"{name} ({tgz.name}): unknown key {k}" for k in unknown_keys(chart, values)]
        problems += [f"{name} ({tgz.name}): schema: {e}" for e in schema_errors(chart, values)]
    assert not problems, "\n".join(problems)


def _kps() -> Chart:
    return load_chart(MIRROR / "kube-prometheus-stack-88.5.3.tgz")


def test_a_misspelt_key_is_found() -> None:
    chart = _kps()
    assert list(unknown_keys(chart, {"prometheus": {"prometheusSpec": {"retention": "15d"}}})) == []
    assert list(unknown_keys(chart, {"prometheus": {"prometheusSpec": {"retension": "15d"}}})) == [
        "prometheus.prometheusSpec.retension"
    ]
    # a subchart's keys are checked against the subchart, under its name
    assert list(unknown_keys(chart, {"grafana": {"adminPasword": "x"}})) == ["grafana.adminPasword"]
    # below a free-form default (an empty map) anything goes
    assert list(unknown_keys(chart, {"prometheus": {"prometheusSpec": {"nodeSelector": {"a": "b"}}}})) == []


def test_schema_violations_are_found() -> None:
    chart = load_chart(MIRROR / "metallb-0.16.1.tgz")
    assert schema_errors(chart, {}) == []
    assert schema_errors(chart, {"controller": {"enabled": "yes"}}), "metallb's schema types controller.enabled"
