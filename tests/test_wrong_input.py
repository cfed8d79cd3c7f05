"""Wrong-input paths a new user finds (issue 29, item 3), through the real CLI entry point.

Each case pins what the user sees: the field (option or key) that is wrong, the reason, and a
"To fix:" that names what to type instead. Expectations are written out by hand (the shipped
blueprint names, the T4's precisions, the A10G's missing peak), not read from the code's tables.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from aistack.cli import main
from blueprints import decide, workload
from blueprints.utilisation import DoesNotFit, MissingFigure, NotEstimable, TooSlow, UnsupportedPrecision
from foundation import catalog
from tests.conftest import ROOT

SHIPPED = (
    "cost-optimised-inference",
    "llm-finetune-8xh100",
    "onprem-dgx",
    "regulated-eu",
    "starter-notebooks",
    "tpu-pretraining",
)
STARTER = str(ROOT / "blueprints" / "starter-notebooks.yaml")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), " ".join(err.getvalue().split())


# --------------------------------------------------------------------------- recommend: blueprints
def test_a_blueprint_file_given_to_workload_is_used_and_said_to_be_one() -> None:
    code, out, err = run("recommend", "--workload", STARTER, "--json")
    assert code == 0, err
    assert "unknown key" not in err
    assert f"{STARTER} is a blueprint file" in err and "--blueprint" in err
    options = json.loads(out)["options"]
    # starter-notebooks: max_chips 1, spot allowed, QLoRA on a 3B model: one chip per option
    assert options and all(o["count"] == 1 for o in options)


def test_blueprint_by_name_and_by_file_rank_the_same_as_the_file_given_to_workload() -> None:
    by_name = run("recommend", "--blueprint", "starter-notebooks", "--json")
    by_file = run("recommend", "--blueprint", STARTER, "--json")
    by_workload = run("recommend", "--workload", STARTER, "--json")
    assert by_name[0] == by_file[0] == by_workload[0] == 0
    assert json.loads(by_name[1]) == json.loads(by_file[1]) == json.loads(by_workload[1])
    assert by_name[2] == by_file[2] == ""  # no note: nothing was guessed


def test_a_mistyped_blueprint_name_suggests_the_closest_and_lists_every_one() -> None:
    code, out, err = run("recommend", "--blueprint", "starter-notebook")
    assert code == 2 and out == ""
    assert err.startswith("--blueprint: no blueprint named 'starter-notebook'.")
    assert "To fix: did you mean 'starter-notebooks'?" in err
    assert all(name in err for name in SHIPPED)


def test_a_missing_blueprint_file_says_so_and_suggests_a_name() -> None:
    code, _, err = run("recommend", "--blueprint", "configs/tpu-pretrain.yaml")
    assert code == 2
    assert err.startswith("--blueprint configs/tpu-pretrain.yaml: no such file") and "To fix:" in err
    assert "did you mean 'tpu-pretraining'?" in err


@pytest.mark.parametrize("argv", [(), ("--workload", STARTER, "--blueprint", "starter-notebooks")])
def test_recommend_needs_exactly_one_of_workload_and_blueprint(argv: tuple[str, ...]) -> None:
    code, _, err = run("recommend", *argv)
    assert code == 2
    assert err.startswith("--workload/--blueprint: give exactly one of them. To fix:")
    assert "starter-notebooks" in err


def test_a_blueprint_file_with_a_mistyped_key_names_it(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("title: mine\nworkload: {kind: training, flops: 1.0e+21}\nstak: {team: a}\n", encoding="utf-8")
    code, _, err = run("recommend", "--blueprint", str(path))
    assert code == 2
    assert f"{path}: stak: unknown key in a blueprint. To fix:" in err and "did you mean 'stack'?" in err


def test_a_blueprint_files_bad_workload_names_the_field_under_workload(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("title: mine\nworkload: {kind: training, flops: 1.0e+21, objectiv: cost}\n", encoding="utf-8")
    code, _, err = run("recommend", "--workload", str(path))
    assert code == 2
    assert "is a blueprint file" in err  # the note, then the one real problem
    assert "objectiv: unknown key. To fix: did you mean 'objective'?" in err
    assert err.count("unknown key") == 1


def test_load_raises_a_typed_error_for_a_blueprint_file() -> None:
    with pytest.raises(workload.BlueprintFileGiven) as exc:
        workload.load(Path(STARTER))
    assert "To fix: use `--blueprint" in str(exc.value)


# --------------------------------------------------------------------------- estimate: precision
T4 = ("estimate", "--accelerator", "nvidia-t4", "--count", "4", "--params", "1e9", "--tokens", "1e9")


def test_estimate_on_a_t4_defaults_to_fp16_and_says_so() -> None:
    code, out, err = run(*T4, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["precision"] == "fp16"  # the T4 has FP16 tensor cores and no BF16
    assert data["assumptions"][0].startswith("precision fp16 used: nvidia-t4 has no BF16")
    explicit = json.loads(run(*T4, "--precision", "fp16", "--json")[1])
    assert explicit["time_hours"] == data["time_hours"] and explicit["precision"] == "fp16"
    code, out, _ = run(*T4)
    assert code == 0 and "precision fp16 used" in out


def test_estimate_keeps_bf16_as_the_default_where_the_chip_has_it() -> None:
    code, out, _ = run("estimate", "--accelerator", "nvidia-l4", "--count", "1", "--flops", "1e18", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["precision"] == "bf16" and not any("used:" in a for a in data["assumptions"])


@pytest.mark.parametrize("precision", ["bf16", "fp8"])
def test_a_precision_the_t4_lacks_names_the_precision_option_not_the_count(precision: str) -> None:
    code, out, err = run(*T4, "--precision", precision)
    assert code == 2 and out == ""
    assert err.startswith(f"--precision {precision}: nvidia-t4 has no ")
    assert "To fix: use --precision fp16" in err
    assert "--count" not in err


def test_too_few_chips_names_the_count_and_the_smallest_that_fits() -> None:
    # 1e9 params × 16 bytes (BF16 weights and gradients, FP32 Adam moments and master weights) = 16 GB:
    # not with room to spare on one 16 GB T4, so two.
    code, _, err = run("estimate", "--accelerator", "nvidia-t4", "--count", "1", "--params", "1e9", "--tokens", "1e9")
    assert code == 2
    assert err.startswith("--count 1: does not fit: 16 GB of training state")
    assert "To fix: use --count 2 or more" in err


# --------------------------------------------------------------------------- the A10G
def test_the_a10g_row_is_sourced_where_it_can_be_and_says_why_not_elsewhere() -> None:
    perf = catalog.performance().performance["nvidia-a10g"]
    assert perf.bf16_tflops is None and perf.fp16_tflops is None  # no A10G-specific published peak
    assert perf.memory_bandwidth_gbps == 600  # 24 GB GDDR6 at 600 GB/s, as the A10
    assert "https://www.baseten.co/blog/nvidia-a10-vs-a10g-for-ml-model-inference/" in perf.sources
    assert "A10G" in perf.unsourced


def test_estimate_on_an_a10g_names_the_accelerator_the_missing_field_and_why() -> None:
    code, _, err = run("estimate", "--accelerator", "nvidia-a10g", "--count", "1", "--flops", "1e21")
    assert code == 2
    assert err.startswith("--accelerator nvidia-a10g: cannot estimate: no sourced 16-bit peak for nvidia-a10g:")
    assert "NVIDIA publishes no A10G datasheet" in err
    assert "To fix: choose another --accelerator" in err and "bf16_tflops" in err


def test_recommend_says_why_the_a10g_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text(
        "kind: serving\nparams: 1.0e+9\ntarget_tokens_per_s: 100\nconstraints: {clouds: [aws]}\n", encoding="utf-8"
    )
    code, out, _ = run("recommend", "--workload", str(path), "--json")
    assert code == 0
    a10g = [e for e in json.loads(out)["eliminated"] if e["option"].startswith("nvidia-a10g on aws")]
    a10g = [e for e in a10g if not e["option"].endswith(", spot)")]  # spot ones go first: spot_ok is false
    assert len(a10g) == 3  # g5.xlarge on-demand in us-east-1, eu-west-1, eu-central-1
    for e in a10g:
        assert e["constraint"] == "data"
        assert "no sourced 16-bit peak for nvidia-a10g: NVIDIA publishes no A10G datasheet" in e["reason"]


# --------------------------------------------------------------------------- typed errors, not message text
@pytest.mark.parametrize(
    ("raised", "constraint"),
    [
        (DoesNotFit("x"), "memory"),
        (TooSlow("x"), "latency"),
        (UnsupportedPrecision("x", "fp8"), "precision"),
        (MissingFigure("too slow to fit", "bf16_tflops"), "data"),  # the words do not decide; the type does
        (NotEstimable("does not fit, too slow"), "data"),
    ],
)
def test_the_decision_engine_classifies_refusals_by_type(
    monkeypatch: pytest.MonkeyPatch, raised: NotEstimable, constraint: str
) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise raised

    monkeypatch.setattr(decide, "estimate_serving", refuse)
    monkeypatch.setattr(decide, "estimate_training", refuse)
    serving = workload.parse({"kind": "serving", "params": 1e9, "target_tokens_per_s": 100})
    training = workload.parse({"kind": "training", "flops": 1e20})
    venue = decide.Venue("aws", "us-east-1", "nvidia-l4", "g6.xlarge", 1, 0.8, False, "test")
    for wl in (serving, training):
        option, gone = decide._best_size(venue, wl)
        assert option is None and gone is not None
        assert gone.constraint == constraint and gone.reason.startswith(str(raised))
