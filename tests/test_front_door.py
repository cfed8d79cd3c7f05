"""The front door (issue 18), case by case: each class of hostile or careless input the issue lists,
run through the real CLI entry point in-process. The generated counterparts are in
test_fuzz_front_door.py; these pin the exact behaviour and wording people see."""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from aistack.cli import main
from components.spec import SpecError, load_stack
from foundation.safe_yaml import loads
from tests.conftest import ROOT, run_aistack


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def stack_file(tmp_path: Path, config: dict[str, Any], name: str = "t") -> Path:
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": config}))
    return path


LOCAL = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())["config"]

BOMB = """config:
  unused: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
  i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


@pytest.mark.parametrize("command", ["validate", "plan", "check", "manifests"])
def test_alias_bomb_is_refused_at_once(command: str, tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.bomb.yaml"
    path.write_text(BOMB)
    assert len(BOMB) < 600  # the issue's 463-byte class of document
    extra = ["--out", str(tmp_path / "out")] if command == "manifests" else []
    start = time.monotonic()
    code, _, err = run(command, str(path), *extra)
    assert time.monotonic() - start < 5
    assert code == 2 and "aliases" in err and "To fix" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("config:\n  aistack:target: gcp\n  aistack:target: aws\n", "duplicate key 'aistack:target'"),
        ("config:\n  aistack:region: .inf\n", "not a finite number"),
        ("config:\n  aistack:teams: &t [*t]\n", "recursive"),
        ("config: " + "[" * 200 + "]" * 200 + "\n", "nested"),
    ],
)
def test_yaml_that_means_two_things_is_an_error(text: str, words: str, tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_stack(str(path))
    assert words in str(info.value)


def test_yaml_merge_keys_still_work() -> None:
    assert loads("a: &base {x: 1, y: 2}\nb: {<<: *base, y: 3}\n", "t") == {"a": {"x": 1, "y": 2}, "b": {"x": 1, "y": 3}}


@pytest.mark.parametrize(
    ("key", "fix"),
    [
        ("aistackk:teams", "write it as 'aistack:teams'"),
        ("AISTACK:teams", "write it as 'aistack:teams'"),
        ("teams", "write it as 'aistack:teams'"),
    ],
)
def test_a_near_miss_of_the_namespace_is_an_error_not_a_silently_dropped_section(
    key: str, fix: str, tmp_path: Path
) -> None:
    config = {k: v for k, v in LOCAL.items() if k != "aistack:teams"} | {key: LOCAL["aistack:teams"]}
    code, _, err = run("validate", str(stack_file(tmp_path, config)))
    assert code == 2 and fix in err


def test_other_namespaces_are_left_alone(tmp_path: Path) -> None:
    config = LOCAL | {"kubernetes:context": "x", "pulumi:tags": {"a": "b"}}
    assert run("validate", str(stack_file(tmp_path, config)))[0] == 0


@pytest.mark.parametrize(
    ("pools_patch", "field", "fix"),
    [
        ({"count": True}, "count", "true/false are not numbers"),
        ({"max_nodes": "2"}, "max_nodes", "unquoted"),
        ({"spot": "yes"}, "spot", "true or false"),
    ],
)
def test_booleans_are_not_numbers_and_text_is_not_a_boolean(
    pools_patch: dict[str, Any], field: str, fix: str, tmp_path: Path
) -> None:
    pools = [dict(LOCAL["aistack:accelerator_pools"][0]) | pools_patch]
    code, _, err = run("validate", str(stack_file(tmp_path, LOCAL | {"aistack:accelerator_pools": pools})))
    assert code == 2 and f"accelerator_pools[0].{field}" in err and fix in err


def test_every_field_error_has_a_specific_fix() -> None:
    from components.spec import parse_spec

    bad = {
        "target": "gcp",
        "region": 5,
        "name": "Bad_Name",
        "monitoring": {"retention": "forever", "storage_gb": 0},
        "accelerator_pools": [{"name": "p", "accelerator": "nvidia-l4", "count": 2.5, "tpu_topology": "big"}],
        "upstream": {"charts_mirror": "relative/dir"},
    }
    with pytest.raises(SpecError) as info:
        parse_spec(bad)
    for issue in info.value.issues:
        assert issue.fix and issue.fix != "correct the value.", issue


def test_user_text_is_never_markup(tmp_path: Path) -> None:
    config = LOCAL | {"aistack:region": "[/bad] [red]x[/red] :thumbs_up:", "aistack:name": "[/bad]"}
    code, _, err = run("validate", str(stack_file(tmp_path, config)))
    assert code == 2 and "[/bad]" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["estimate", "--accelerator", "nvidia-h100-80gb", "--count", "8", "--params", "7e9", "--tokens", "1e300"],
        ["estimate", "--accelerator", "nvidia-h100-80gb", "--count", "8", "--params", "inf", "--tokens", "1e9"],
        ["estimate", "--accelerator", "nvidia-h100-80gb", "--count", "8", "--params", "nan", "--tokens", "1e9"],
        ["estimate", "--accelerator", "nvidia-h100-80gb", "--count", "0", "--params", "7e9", "--tokens", "1e9"],
        ["recommend", "--workload", str(ROOT / "docs"), "--json"],
        ["recommend", "--workload", str(ROOT / "README.md"), "--limit", "0"],
    ],
)
def test_numbers_and_paths_that_cannot_be_estimated_are_bad_input(argv: list[str]) -> None:
    code, out, err = run(*argv, "--json") if "--json" not in argv else run(*argv)
    assert code == 2, out + err
    assert "Traceback" not in err and "bug" not in err and "Infinity" not in out


def test_binary_workload_file_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_bytes(b"\x7fELF\x00\x01\x02")
    code, _, err = run("recommend", "--workload", str(path))
    assert code == 2 and "binary" in err


def test_estimate_json_is_strict(tmp_path: Path) -> None:
    code, out, _ = run(
        "estimate", "--accelerator", "nvidia-h100-80gb", "--count", "8", "--params", "7e9", "--tokens", "1e16", "--json"
    )
    assert code == 0
    json.loads(out, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


# --- the wizard: names, template injection, unknown answers ----------------------------------------


def wizard(tmp_path: Path, answers: Any) -> tuple[int, str, str]:
    path = tmp_path / "answers.yaml"
    path.write_text(yaml.safe_dump(answers))
    return run("wizard", "--answers", str(path), "--stacks-dir", str(tmp_path / "stacks"))


@pytest.mark.parametrize("name", ["", "My Stack!", "team/ml", "../escape", "a" * 101, "..", True])
def test_wizard_refuses_stack_names_pulumi_refuses(name: Any, tmp_path: Path) -> None:
    code, _, err = wizard(tmp_path, {"name": name, "blueprint": "starter-notebooks"})
    assert code == 2 and ("stack name" in err or "only dots" in err)
    assert not (tmp_path / "stacks").exists() or not any((tmp_path / "stacks").iterdir())


def test_wizard_answers_cannot_inject_config_keys(tmp_path: Path) -> None:
    evil = "acme-ml-prod\n  aistack:data_protection: false"
    code, _, err = wizard(tmp_path, {"name": "ml", "blueprint": "tpu-pretraining", "project": evil})
    assert code == 2 and "project" in err and "GCP project id" in err
    assert not (tmp_path / "stacks" / "Pulumi.ml.yaml").exists()


def test_wizard_writes_values_through_the_serializer(tmp_path: Path) -> None:
    code, out, err = wizard(tmp_path, {"name": "ml", "blueprint": "tpu-pretraining", "project": "acme-ml-prod"})
    assert code == 0, out + err
    written = tmp_path / "stacks" / "Pulumi.ml.yaml"
    config = yaml.safe_load(written.read_text())["config"]
    assert config["gcp:project"] == "acme-ml-prod" and "aistack:data_protection" not in config
    assert [p.name for p in (tmp_path / "stacks").iterdir()] == ["Pulumi.ml.yaml"]  # no temporary file left


def test_wizard_render_keeps_newlines_inside_values() -> None:
    from blueprints.render import Line, oneline

    line = Line("aistack:region", "x\n  aistack:data_protection: false")
    assert yaml.safe_load(line.text) == {"aistack:region": "x\n  aistack:data_protection: false"}
    assert "\n" not in line.text and "\n" not in oneline("a\nb\r\n\tc")


@pytest.mark.parametrize(
    ("answers", "words"),
    [
        ({"name": "ml", "blueprint": "starter-notebooks", "projekt": "x"}, "did you mean 'project'"),
        (["name", "ml"], "not a mapping"),
        ({"name": "ml", "blueprint": "../../etc/passwd"}, "does not exist"),
        ({"name": "ml", "blueprint": "starter-notebooks", "choice": True}, "choice"),
    ],
)
def test_wizard_answers_are_checked(answers: Any, words: str, tmp_path: Path) -> None:
    code, _, err = wizard(tmp_path, answers)
    assert code == 2 and words in err


# --- manifests stay inside --out ----------------------------------------------------------------------


def test_manifest_file_names_cannot_leave_the_output_directory(tmp_path: Path) -> None:
    from aistack.cli.manifests import UnsafeNameError, write_manifests

    good = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
    for name in ("x/../../name", "../up", "a/b", ".hidden", ".."):
        evil = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "team-a"}}
        with pytest.raises(UnsafeNameError):
            write_manifests([good, evil], tmp_path / "out")
        assert not (tmp_path / "out").exists(), "nothing is written when any name is unsafe"
    assert [p.name for p in write_manifests([good], tmp_path / "out")] == ["namespace-cluster-team-a.yaml"]


def test_manifests_into_a_file_is_bad_input(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    code, _, err = run("manifests", "local", "--out", str(target))
    assert code == 2 and "--out" in err


# --- exit codes and output ----------------------------------------------------------------------------


def test_a_real_bug_exits_70_with_one_line_and_no_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    validate_module = importlib.import_module("aistack.cli.validate")

    def boom(stack: str) -> Any:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(validate_module, "load_or_exit", boom)
    code, _, err = run("validate", "local")
    assert code == 70 and "This is a bug in aistack" in err and "Traceback" not in err
    with pytest.raises(RuntimeError):
        run("--debug", "validate", "local")


def test_usage_errors_exit_2() -> None:
    assert run("no-such-command")[0] == 2
    assert run("validate")[0] == 2
    assert run("recommend", "--workload", "x", "--limit", "abc")[0] == 2


def test_engine_results_read_as_words_not_python_reprs() -> None:
    from aistack.cli.local import _changes

    assert _changes({"create": 56}) == "56 created"
    assert _changes({"same": 2, "update": 1}) == "2 unchanged, 1 updated"
    assert _changes({}) == "no changes"


def test_drift_reports_the_clis_message_not_its_exit_code() -> None:
    from aistack.drift.runner import cli_message

    text = "\n code: 3\n stdout: \n stderr: error: PULUMI_ACCESS_TOKEN must be set for login during non-interactive"
    assert cli_message(text).startswith("error: PULUMI_ACCESS_TOKEN must be set")


def test_tables_are_not_truncated_mid_word_when_piped(tmp_path: Path) -> None:
    """Not a terminal, 80 columns: the spec-error report is one plain line per problem, and the
    recommend tables fold long cells instead of cutting them with an ellipsis."""
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
    bad = run_aistack("validate", "stacks/Pulumi.nope-but-very-long-name-that-does-not-exist.yaml", env=env)
    assert bad.returncode == 2 and "…" not in bad.stderr
    assert "nope-but-very-long-name-that-does-not-exist.yaml: no such stack file" in bad.stderr
    workload = tmp_path / "w.yaml"
    bp = yaml.safe_load((ROOT / "blueprints" / "cost-optimised-inference.yaml").read_text())
    workload.write_text(yaml.safe_dump(bp["workload"]))
    good = run_aistack("recommend", "--workload", str(workload), env=env)
    assert good.returncode in (0, 1) and "…" not in good.stdout.replace("… ", "")
    table_lines = [line for line in good.stdout.splitlines() if line[:1] in "┏┃┡│└━┗╭╰"]
    assert table_lines and max(len(line) for line in table_lines) <= 80


@pytest.mark.parametrize("content", [b"clusters: [1, 2]\ncontexts: x\n", b"\x00\x01binary", b"a: [\n"])
def test_a_broken_kubeconfig_is_bad_input(content: bytes, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_bytes(content)
    config = {
        "aistack:target": "onprem",
        "aistack:region": "dc1",
        "aistack:onprem": {"volumes": "local-path"},
        "aistack:cluster": {"kubeconfig": str(kubeconfig)},
        "aistack:accelerator_pools": [{"name": "h100", "accelerator": "nvidia-h100-80gb", "nodes": ["gpu-01"]}],
    }
    code, _, err = run("verify-nodes", str(stack_file(tmp_path, config)))
    assert code == 2 and "kubeconfig" in err and "To fix" in err and "bug" not in err


def test_the_plan_tree_wraps_instead_of_cropping_when_piped() -> None:
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}

    def plan(*extra: str) -> str:
        result = run_aistack("plan", "local", *extra, env=env)
        assert result.returncode == 0, result.stderr
        return result.stdout

    doc = json.loads(plan("--json"))
    tree = plan()
    assert max(len(line) for line in tree.splitlines()) <= 80
    flat = "".join(c for c in tree if not c.isspace() and c not in "│├└─")
    for r in doc["resources"]:  # every name and type is there in full, folded across lines at worst
        assert r["name"] + r["type"] in flat, r["name"]


def test_piped_tables_keep_their_natural_width(tmp_path: Path) -> None:
    """No COLUMNS and no terminal (a CI log): tables are laid out up to PIPE_WIDTH, so no header or
    cell is split mid-word the way an assumed 80 columns would split it."""
    workload = tmp_path / "w.yaml"
    bp = yaml.safe_load((ROOT / "blueprints" / "starter-notebooks.yaml").read_text())
    workload.write_text(yaml.safe_dump(bp["workload"]))
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    result = run_aistack("recommend", "--workload", str(workload), env=env)
    assert result.returncode in (0, 1), result.stderr
    header = next(line for line in result.stdout.splitlines() if "accelerator" in line)
    assert all(word in header for word in ("#", "accelerator", "where", "chips", "hours", "USD", "MFU"))


def test_an_estimate_that_does_not_fit_says_how_to_fix_it() -> None:
    code, _, err = run(
        "estimate", "--accelerator", "nvidia-h100-80gb", "--count", "1", "--params", "4000000001", "--tokens", "1"
    )
    assert code == 2 and "does not fit" in err and "To fix:" in err
