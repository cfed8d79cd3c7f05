"""Where `make demo` takes the upstreams from: the stack's word, a named mirror, the one beside the
checkout, the public repositories, or the CRDs alone (each a one-line answer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from aistack.local import deploy, upstream
from components.spec import load_stack, parse_spec
from tests.conftest import stack_values


def mirror(tmp_path: Path) -> Path:
    root = tmp_path / "mirror"
    root.mkdir(exist_ok=True)
    (root / "index.yaml").write_text("apiVersion: v1\nentries: {}\n")
    return root


def never() -> bool:
    raise AssertionError("the network must not be probed when a mirror decides")


SPEC = load_stack("local").spec


def test_a_named_mirror_comes_first(tmp_path: Path) -> None:
    named = mirror(tmp_path)
    route = upstream.decide(SPEC, env={upstream.MIRROR_ENV: str(named)}, shared=tmp_path / "none", online=never)
    assert (route.kind, route.mirror) == ("mirror", str(named.resolve()))
    assert route.overrides() == {"install": True, "charts_mirror": str(named), "manifests_mirror": str(named)}
    assert upstream.MIRROR_ENV in route.why


def test_a_named_path_that_is_no_mirror_is_an_error_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="To fix"):
        upstream.decide(SPEC, env={upstream.MIRROR_ENV: str(tmp_path)}, shared=tmp_path, online=never)


def test_the_mirror_beside_the_checkout(tmp_path: Path) -> None:
    route = upstream.decide(SPEC, env={}, shared=mirror(tmp_path), online=never)
    assert route.kind == "mirror" and "beside the checkout" in route.why


def test_public_repositories_when_online(tmp_path: Path) -> None:
    route = upstream.decide(SPEC, env={}, shared=tmp_path / "none", online=lambda: True)
    assert route.kind == "public" and route.overrides() is None and route.installs_upstream


def test_neither_internet_nor_mirror_falls_back_to_the_crds_in_one_line(tmp_path: Path) -> None:
    route = upstream.decide(SPEC, env={}, shared=tmp_path / "none", online=lambda: False)
    assert route.kind == "crds-only" and route.overrides() == {"install": False}
    assert "\n" not in route.why and "no internet and no mirror" in route.why and upstream.MIRROR_ENV in route.why


def test_the_stacks_own_upstream_section_is_taken_as_written(tmp_path: Path) -> None:
    values: dict[str, Any] = stack_values("local")
    values["upstream"] = {"install": False}
    off = parse_spec(values)
    assert upstream.decide(off, env={}, shared=mirror(tmp_path), online=never).overrides() is None
    values["upstream"] = {"charts_mirror": "/srv/m", "manifests_mirror": "/srv/m"}
    named = parse_spec(values)
    assert upstream.decide(named, env={}, shared=mirror(tmp_path), online=never).kind == "stack"


def test_the_choice_is_recorded_per_cluster(tmp_path: Path) -> None:
    route = upstream.decide(SPEC, env={}, shared=mirror(tmp_path), online=never)
    upstream.record(route, tmp_path / "state")
    assert upstream.recorded(tmp_path / "state") == route
    assert upstream.recorded(tmp_path / "elsewhere") is None


def test_the_engine_reads_the_mirror_from_a_private_copy_never_the_stack_file(tmp_path: Path) -> None:
    committed = (deploy.REPO / "stacks" / "Pulumi.local.yaml").read_bytes()
    route = upstream.decide(SPEC, env={}, shared=mirror(tmp_path), online=never)
    copy = deploy.prepare("local", state=tmp_path / "state", upstream=route.overrides())
    assert yaml.safe_load(copy.read_text())["config"]["aistack:upstream"] == route.overrides()
    assert deploy.cli_config_problem("local", upstream=route.overrides()) is not None  # so --config-file
    assert deploy.cli_config_problem("local", upstream=None) is None
    assert (deploy.REPO / "stacks" / "Pulumi.local.yaml").read_bytes() == committed
