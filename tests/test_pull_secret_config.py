"""The site registry's pull secret is a credential: in plain text in the stack file it is refused with the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.spec import SpecError, load_stack

ROOT = Path(__file__).resolve().parent.parent


def write_local(tmp_path: Path, upstream: dict[str, Any]) -> Path:
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    doc["config"]["aistack:upstream"] = upstream
    (tmp_path / "Pulumi.local.yaml").write_text(yaml.safe_dump(doc))
    return tmp_path


def test_a_pull_secret_in_plain_text_is_refused_with_the_command_that_fixes_it(tmp_path: Path) -> None:
    stacks = write_local(tmp_path, {"image_registry": "registry.corp.example:5000/mirror", "image_pull_secret": "u:p"})
    with pytest.raises(SpecError) as e:
        load_stack("local", stacks)
    text = str(e.value)
    assert "aistack:upstream.image_pull_secret" in text and "plain text" in text
    assert "pulumi config set --secret --path" in text
    assert "u:p" not in text  # the credential itself is never echoed


def test_a_pull_secret_stored_as_a_pulumi_secret_loads(tmp_path: Path) -> None:
    # The shape `pulumi config set --secret --path` writes: the leaf is {secure: <ciphertext>}.
    secure = {"secure": "v1:AAAAAAAAAAAAAAAA:BBBBBBBBBBBBBBBBBBBBBBBBBBBB"}
    stacks = write_local(tmp_path, {"image_registry": "registry.corp.example:5000/mirror", "image_pull_secret": secure})
    loaded = load_stack("local", stacks)
    assert loaded.spec.upstream.image_registry == "registry.corp.example:5000/mirror"
    assert loaded.spec.upstream.image_pull_secret is not None
