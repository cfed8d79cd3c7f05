"""Random malformed configs always end in a clean SpecError, never another exception."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.spec import SpecError, StackSpec, parse_spec
from components.spec.model import MODELS_BY_NAME
from tests.conftest import EXAMPLE_STACKS, config_paths, stack_values

FIELD_NAMES = sorted({f for m in MODELS_BY_NAME.values() for f in m.model_fields})

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["gcp", "aws", "onprem", "nvidia-h100-80gb", "tpu-v5e", "mig", "time-slicing", "2x4", "gdpr"]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8)), children, max_size=5),
    ),
    max_leaves=25,
)
configs = st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=10)), values, max_size=8)


def _parse(config: Any) -> None:
    try:
        result = parse_spec(config)
    except SpecError as exc:
        assert exc.issues, "a SpecError always carries at least one issue"
        for issue in exc.issues:
            assert issue.path and issue.reason
    else:
        assert isinstance(result, StackSpec)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(configs)
def test_random_configs_fail_cleanly(config: dict[str, Any]) -> None:
    _parse(config)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.sampled_from(EXAMPLE_STACKS), st.data(), values)
def test_mutated_examples_fail_cleanly(name: str, data: st.DataObject, replacement: Any) -> None:
    """Take a valid example, replace one node anywhere in it with random junk."""
    config = copy.deepcopy(stack_values(name))
    path = data.draw(st.sampled_from(config_paths(config)))
    node: Any = config
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = replacement
    _parse(config)


@given(values)
def test_non_mapping_roots_fail_cleanly(config: Any) -> None:
    _parse(config)
