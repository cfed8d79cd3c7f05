"""Drive `aistack wizard` in a real pseudo-terminal, as a person would, with pexpect."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")

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
        child.expect("Which option")
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
