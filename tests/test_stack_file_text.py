"""A stack file after `pulumi config set` (3.259 rewrites every top-level value as text) means what it meant.

Seen by a new user: `pulumi config set --secret --path aistack:upstream.image_pull_secret …` turned
`aistack:data_protection: false` into `"false"`, and every offline command then refused the stack."""

from __future__ import annotations

from pathlib import Path

import yaml

from components.spec import load_stack

ROOT = Path(__file__).resolve().parent.parent


def test_text_values_written_by_pulumi_config_set_load_as_the_engine_reads_them(tmp_path: Path) -> None:
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    native = doc["config"]
    assert native["aistack:data_protection"] is False  # the committed file as written by hand
    # What the CLI writes back: scalars as strings (a hand-worked copy of its output's shape).
    texted = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in native.items()}
    assert texted["aistack:data_protection"] == "false"
    (tmp_path / "Pulumi.local.yaml").write_text(yaml.safe_dump({**doc, "config": texted}))
    assert load_stack("local", tmp_path).spec == load_stack("local", ROOT / "stacks").spec
