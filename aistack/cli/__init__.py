"""The `aistack` command line. One module per command; this file only wires them up."""

from __future__ import annotations

import functools
import os
import sys
from typing import Annotated, Any

import typer

from .. import __version__
from .calibration import calibration_cmd
from .catalog import app as catalog_app
from .check import check
from .common import EXIT_BUG, EXIT_INVALID, EXIT_OK, err, styled
from .destroy import destroy
from .drift import drift
from .images import images
from .local import app as local_app
from .manifests import manifests
from .plan import plan_cmd
from .preflight import preflight
from .recommend import estimate, recommend
from .sweep import sweep
from .upgrade import app as upgrade_app
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
app.command("preflight")(preflight)
app.command("manifests")(manifests)
app.command("upstreams")(upstreams)
app.command("images")(images)
app.command("verify-nodes")(verify_nodes)
app.command("check")(check)
app.command("drift")(drift)
app.command("sweep")(sweep)
app.command("destroy")(destroy)
app.command("recommend")(recommend)
app.command("estimate")(estimate)
app.command("calibration")(calibration_cmd)
app.command("wizard")(wizard)
app.add_typer(local_app, name="local")
app.add_typer(catalog_app, name="catalog")
app.add_typer(upgrade_app, name="upgrade")


@app.command("version")
def version() -> None:
    """Print aistack's version."""
    typer.echo(__version__)


_debug = {"on": bool(os.environ.get("AISTACK_DEBUG"))}


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="On an internal error, show the traceback (also: AISTACK_DEBUG=1).")
    ] = False,
) -> None:
    if debug:
        _debug["on"] = True


@functools.cache
def _command() -> Any:
    return typer.main.get_command(app)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point and the in-process entry the tests use; returns the exit code.

    The contract (README, SECURITY.md): 0 fine, 1 the check found something, 2 bad input or could not
    run, 70 a bug in aistack (one line and how to report it; the traceback only with --debug).
    """
    args = sys.argv[1:] if argv is None else argv
    _debug["on"] = bool(os.environ.get("AISTACK_DEBUG")) or "--debug" in args
    try:
        # click's standalone mode: always ends in SystemExit. The click command is built once per process
        # (typer derives it from every command's signature, ~0.1 s), which in-process callers reuse.
        _command().main(args=args, prog_name="aistack")
        return EXIT_OK
    except SystemExit as exc:  # usage errors (unknown option, bad value) arrive here as 2, from click
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_INVALID)
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except OSError as exc:  # the environment, not aistack: a full disk, an unwritable path, a dead pipe
        if _debug["on"]:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        err.print(styled("[red]could not run:[/] {msg}{where}", msg=exc.strerror or exc, where=where))
        err.print("To fix: check the path and its permissions, or free disk space, then run the command again.")
        return EXIT_INVALID
    except Exception as exc:
        if _debug["on"]:
            raise
        err.print(styled("[red]aistack failed:[/] {kind}: {msg}", kind=type(exc).__name__, msg=exc))
        err.print(
            "This is a bug in aistack, not in your input. Please report it with the command you ran and the "
            "traceback that `aistack --debug <same arguments>` prints."
        )
        return EXIT_BUG


def run() -> None:
    """The `aistack` console script."""
    sys.exit(main())
