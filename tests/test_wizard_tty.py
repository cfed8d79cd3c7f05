"""Drive `aistack wizard` in a real pseudo-terminal, as a person would, with pexpect."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

HAVE_PEXPECT = importlib.util.find_spec("pexpect") is not None
pytestmark = pytest.mark.need("pexpect", "pexpect not installed (make setup installs dev extras)", have=HAVE_PEXPECT)
if HAVE_PEXPECT:
    import pexpect
WIZARD = importlib.import_module("aistack.cli.wizard")  # the module (aistack.cli.wizard is also the command)

DOWN = "\x1b[B"
ENTER = "\r"


def test_interactive_wizard_writes_a_valid_stack(tmp_path: Path) -> None:
    exe = shutil.which("aistack") or str(Path(sys.executable).parent / "aistack")
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "120", "LINES": "50", "NO_COLOR": "1"}
    child = pexpect.spawn(
        exe, ["wizard", "--stacks-dir", str(tmp_path)], env=env, encoding="utf-8", timeout=60, dimensions=(50, 120)
    )
    try:
        child.expect("Stack name")
        child.send("\x15tty-eu" + ENTER)  # ctrl-u clears the default
        child.expect("Start from")
        child.send(ENTER)  # a blank workload
        child.expect("What will run")
        child.send(ENTER)  # training
        child.expect("Model parameters")
        child.send("\x15" + "3e9" + ENTER)
        child.expect("Training tokens")
        child.send("\x15" + "6e10" + ENTER)
        child.expect("Framework")
        child.send(DOWN + ENTER)  # jax
        child.expect("Optimise for")
        child.send(ENTER)  # cost
        child.expect("Deadline")
        child.send("48" + ENTER)
        child.expect("Compliance")
        child.send(DOWN + ENTER)  # gdpr
        child.expect("spot")
        child.send("y")
        # A purchase question comes only when an option bought that way is ranked: answer no to each.
        questions = [re.escape(q.split("?")[0]) for q in WIZARD.PURCHASE_QUESTIONS.values()]
        while child.expect(["Which option", *questions]) > 0:
            child.send("n")
        child.send(ENTER)  # the top-ranked option
        child.expect("wrote")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
    text = (tmp_path / "Pulumi.tty-eu.yaml").read_text()
    assert "aistack:compliance: gdpr" in text
    from components.spec import load_stack

    spec = load_stack(str(tmp_path / "Pulumi.tty-eu.yaml"), tmp_path).spec
    assert spec.compliance == "gdpr" and spec.accelerator_pools
    assert spec.accelerator_pools[0].capacity_type in ("on-demand", "spot")  # every booking declined


def test_wizard_asks_about_a_capacity_block_only_when_one_is_ranked(tmp_path: Path) -> None:
    """An AWS-only, on-demand job where blocks are cheapest: the question comes, and "no" removes them."""
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "160", "LINES": "50", "NO_COLOR": "1"}
    answers = tmp_path / "answers.yaml"
    answers.write_text(
        "name: blocks\nkind: training\nparams: 7e9\ntokens: 1.4e11\nframework: pytorch\nobjective: cost\n"
        "deadline_hours: 200\ncompliance: standard\nspot_ok: false\nclouds: [aws]\n"
    )
    # The answers file answers everything but the purchase question and the choice, so prompt for those.
    child = pexpect.spawn(
        sys.executable,
        ["-c", _PARTIAL_WIZARD, str(answers), str(tmp_path)],
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 160),
    )
    try:
        child.expect("Book an EC2 Capacity Block")
        child.send("n")
        child.expect("Which option")
        shown = child.before
        child.send(ENTER)
        child.expect("wrote")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
    assert "Ranked options" in shown and "capacity-block" not in shown  # "no" took them out of the ranking
    text = (tmp_path / "Pulumi.blocks.yaml").read_text()
    assert "capacity block" not in text.split("config:", 1)[0]


# Runs the interactive wizard with some answers known: what `_ask` would skip, it skips.
_PARTIAL_WIZARD = """
import importlib, sys
from pathlib import Path
import yaml
wizard = importlib.import_module("aistack.cli.wizard")
known = yaml.safe_load(Path(sys.argv[1]).read_text())
known["blueprint"] = None
wizard._ask = lambda answers: {**answers, **known}
wizard.wizard(None, Path(sys.argv[2]), False)
"""
