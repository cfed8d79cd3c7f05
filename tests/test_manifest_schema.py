"""Every Kubernetes object aistack emits validates strictly against the cluster version's schema."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from aistack.offline import plan
from components.spec import load_stack
from components.versions import KUBERNETES_MINOR
from tests.conftest import EXAMPLE_STACKS


def emitted(name: str) -> list[dict[str, Any]]:
    return plan(load_stack(name)).kubernetes_objects()


@pytest.mark.parametrize("name", EXAMPLE_STACKS)
def test_builtin_objects_validate_strictly(name: str) -> None:
    for obj in emitted(name):
        kubernetes_validate.validate(obj, KUBERNETES_MINOR, strict=True)


def test_strict_validation_catches_unknown_fields() -> None:
    obj = emitted("local")[0]
    bad = {**obj, "metadata": {**obj["metadata"], "lables": {"x": "y"}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_MINOR, strict=True)
