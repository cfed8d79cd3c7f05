"""The `aistack` command line. One module per command; this file only wires them up."""

from __future__ import annotations

import os
import sys

import typer

from .. import __version__
from .check import check
from .common import err
from .drift import drift
from .local import app as local_app
from .manifests import manifests
from .plan import plan_cmd
from .recommend import calibration_cmd, estimate, recommend
from .upstreams import upstreams
from .validate import validate
from .verify_nodes import verify_nodes
from .wizard import wizard

app = typer.Typer(
    name="aistack",
    help="Stand up a complete AI platform on GCP, AWS or on-prem Kubernetes, and check it offline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("validate")(validate)
app.command("plan")(plan_cmd)
app.command("manifests")(manifests)
app.command("upstreams")(upstreams)
app.command("verify-nodes")(verify_nodes)
app.command("check")(check)
app.command("drift")(drift)
app.command("recommend")(recommend)
app.command("estimate")(estimate)
app.command("calibration")(calibration_cmd)
app.command("wizard")(wizard)
app.add_typer(local_app, name="local")


@app.command("version")
def version() -> None:
    """Print aistack's version."""
    typer.echo(__version__)


def main() -> None:
    """Console-script entry point. Bugs get one line (and a traceback with AISTACK_DEBUG=1), never a wall."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("AISTACK_DEBUG"):
            raise
        err.print(f"[red]aistack failed:[/] {type(exc).__name__}: {exc}")
        err.print("This is a bug in aistack, not in your input. Re-run with AISTACK_DEBUG=1 and report the traceback.")
        sys.exit(1)
