"""The README's by-hand path on the e2e cluster (issue #28 item 4), called from tests/test_e2e_local.py.

After the demo's deploy, `eval "$(aistack local env)"` and a plain `pulumi preview -s local` in the
project directory (the committed stack file, no --config-file) must see the sources the demo used and
plan no change: `--expect-no-changes` makes the CLI itself fail otherwise.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path
from typing import Any

from aistack.local import upstream

ROOT = Path(__file__).resolve().parent.parent


def preview_by_hand(env: dict[str, Any], extra: dict[str, Any] | None = None) -> str:
    """Run the README's steps against the e2e cluster's state; returns pulumi's output (it must exit 0).
    ``extra``: upstream settings the e2e deployed with on top of the route (its image registry)."""
    state: Path = env["state"]
    upstream.record(dataclasses.replace(env["route"], extra=extra), state)  # as `aistack local up` records it
    steps = (
        f'eval "$({ROOT / ".venv" / "bin" / "aistack"} local env)" && '
        "pulumi preview -s local --expect-no-changes --non-interactive"
    )
    shell_env = {**os.environ, "AISTACK_LOCAL_DIR": str(state)}
    shell_env.pop("AISTACK_LOCAL_OVERRIDES", None)  # only what `aistack local env` says
    result = subprocess.run(["bash", "-c", steps], cwd=ROOT, env=shell_env, capture_output=True, text=True, timeout=900)
    out = result.stdout + result.stderr
    assert result.returncode == 0, f"the by-hand preview planned changes or failed:\n{out[-4000:]}"
    assert "Traceback" not in out, out[-4000:]
    return out
