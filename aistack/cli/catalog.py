"""`aistack catalog refresh|check`: re-read offerings.yaml's prices from the providers; run its sanity rules."""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from .common import EXIT_FOUND, EXIT_INVALID, console, err, fail, print_spec_error, styled

if TYPE_CHECKING:  # the catalog and its refresher load when a command runs, not for `aistack --help`
    from foundation.catalog import OfferingCatalog
    from foundation.catalog.refresh.diff import Change
    from foundation.catalog.sanity import Finding

app = typer.Typer(
    help="The offerings catalog: refresh its prices from the providers, check its figures.", no_args_is_help=True
)

# Defaults spelled here so that `--help` shows them without importing the refresher.
AWS_REGION_INDEX = "https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/current/region_index.json"
AWS_SPOT_FEED = "https://website.spot.ec2.aws.a2z.com/spot.json"
GCP_ENDPOINT = "https://cloudbilling.googleapis.com"
GCP_KEY_ENV = "AISTACK_GCP_API_KEY"


def _today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


class _Bar:
    """A rich progress bar per source, on stderr (a terminal)."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(), console=err
        )
        self._task: object = None
        self._label = ""

    def __enter__(self) -> _Bar:
        self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._progress.stop()

    def begin(self, label: str, total: int | None) -> None:
        self._label = label
        self._task = self._progress.add_task(label, total=total)

    def advance(self, amount: int) -> None:
        self._progress.advance(self._task, amount)  # type: ignore[arg-type]  # a TaskID from add_task

    def end(self, summary: str) -> None:
        task = self._progress.tasks[-1]
        self._progress.update(task.id, description=f"{self._label}: {summary}", total=task.completed or 1)
        self._progress.update(task.id, completed=task.total)


class _Lines:
    """One line per source when stderr is a pipe or a file (CI logs keep every step)."""

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def begin(self, label: str, total: int | None) -> None:
        self._label = label
        size = f" ({total / 1e6:.1f} MB)" if total and total >= 100_000 else f" ({total} bytes)" if total else ""
        err.print(f"reading {label}{size}", soft_wrap=True)

    def advance(self, amount: int) -> None:
        pass

    def end(self, summary: str) -> None:
        err.print(f"  {self._label}: {summary}", soft_wrap=True)


def _load(path: Path | None) -> OfferingCatalog:
    """The shipped catalog, or the one at `path`; a bad file is bad input (exit 2)."""
    from pydantic import ValidationError

    from components.spec import SpecError
    from foundation import catalog
    from foundation.safe_yaml import load_file

    if path is None:
        return catalog.offerings()
    try:  # the bounded reader every user file goes through (size, aliases, duplicate keys)
        loaded = catalog.OfferingCatalog.model_validate(load_file(path, "offerings catalog"))
    except SpecError as exc:
        print_spec_error(exc)
        raise typer.Exit(EXIT_INVALID) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        fail(
            f"{path}: {where}: {first['msg']} ({exc.error_count()} problem(s))",
            "fix the file to the offerings schema (foundation/catalog/README.md).",
        )
    if loaded.schema_version != catalog.OFFERINGS_SCHEMA_VERSION:
        fail(
            f"{path}: schema_version {loaded.schema_version}, this aistack reads {catalog.OFFERINGS_SCHEMA_VERSION}",
            "pass a catalog this aistack wrote (or move the file away and run the refresh again).",
        )
    return loaded


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.4f}"


def print_diff(changes: list[Change]) -> None:
    from foundation.catalog.refresh.diff import summary

    if not changes:
        console.print("no figure moved")
        return
    table = Table(title=f"what moved (USD/h, whole VM): {summary(changes)}", title_justify="left")
    table.add_column("offering", overflow="fold")
    table.add_column("figure")
    table.add_column("old", justify="right")
    table.add_column("new", justify="right")
    table.add_column("change %", justify="right")
    for c in changes:
        pct = c.percent
        change = "new" if c.old is None else "gone" if c.new is None else f"{pct:+.1f}%"
        table.add_row(c.offering, c.figure, _money(c.old), _money(c.new), change)
    console.print(table)


def print_findings(findings: list[Finding]) -> None:
    for f in findings:
        colour = "red" if f.severity == "error" else "yellow"
        err.print(styled(f"[{colour}]{{f}}[/]", f=f), soft_wrap=True)


@app.command("refresh")
def refresh(
    aws_offers: Annotated[
        str, typer.Option("--aws-offers", help="AWS Price List region index URL, or a directory of offer files.")
    ] = AWS_REGION_INDEX,
    aws_spot: Annotated[
        str, typer.Option("--aws-spot", help="AWS spot price feed (the EC2 spot pricing page's JSON), URL or file.")
    ] = AWS_SPOT_FEED,
    no_aws_spot: Annotated[bool, typer.Option("--no-aws-spot", help="Write AWS rows without spot figures.")] = False,
    gcp_endpoint: Annotated[str, typer.Option("--gcp-endpoint", help="Cloud Billing API base URL.")] = GCP_ENDPOINT,
    gcp_api_key_env: Annotated[
        str, typer.Option("--gcp-api-key-env", help="Environment variable holding the Cloud Billing API key.")
    ] = GCP_KEY_ENV,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Refresh only this provider (aws or gcp); keep the other's rows.")
    ] = None,
    fallback_skypilot: Annotated[
        list[str] | None,
        typer.Option(
            "--fallback-skypilot",
            help="A SkyPilot catalog vms.csv (file or URL) that fills only shapes the providers' lists did not price.",
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would move; write nothing.")] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write here instead of the shipped offerings.yaml.", dir_okay=False)
    ] = None,
) -> None:
    """Re-read every price from AWS's Price List and GCP's Billing Catalog, show what moved, and write
    the catalog only if it passes the sanity rules (exit 1 listing the findings otherwise)."""
    from foundation import catalog
    from foundation.catalog import sanity
    from foundation.catalog.refresh import RefreshError, build
    from foundation.catalog.refresh.diff import diff

    providers = tuple(dict.fromkeys(only or build.PROVIDERS))
    unknown = [p for p in providers if p not in build.PROVIDERS]
    if unknown:
        fail(f"--only {unknown[0]}: not a provider", f"use one of {', '.join(build.PROVIDERS)}.")
    key = os.environ.get(gcp_api_key_env, "")
    if "gcp" in providers and not key:
        fail(
            f"--gcp-api-key-env {gcp_api_key_env}: that environment variable is empty",
            f"export {gcp_api_key_env}=<a Cloud Billing API key> (the key is read from there, never from a flag), "
            "or refresh AWS alone with --only aws.",
        )
    target = out or Path(catalog.__file__).with_name("offerings.yaml")
    old = _load(out if out is not None and out.exists() else None)
    inputs = build.Inputs(
        providers, aws_offers, None if no_aws_spot else aws_spot, gcp_endpoint, key, tuple(fallback_skypilot or ())
    )
    today = _today()
    try:
        with _Bar() if err.is_terminal else _Lines() as progress:
            rows, sources, notes = build.fetch(inputs, progress)
    except RefreshError as exc:
        fail(str(exc).replace(key, "<key>") if key else str(exc), exc.fix)
    if not rows:
        fail(
            "the sources priced none of the catalog's shapes",
            "check --aws-offers / --gcp-endpoint point at the price lists.",
        )
    new = build.assemble(old, rows, sources, providers, today)
    for note in notes:
        err.print(f"note: {note}", soft_wrap=True)
    print_diff(diff(old, new))
    findings = sanity.check(new, today)
    print_findings(findings)
    errors = sanity.errors(findings)
    if errors:
        err.print(
            f"{len(errors)} sanity error(s): {target} was not written. To fix: re-run when the source is corrected, "
            "or record the shape under `excluded:` with the reason.",
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_FOUND)
    if dry_run:
        console.print(f"dry run: {target} not written ({len(new.offerings)} rows would be)")
        return
    build.write_atomic(target, build.to_yaml(new))
    console.print(f"wrote {len(new.offerings)} rows to {target} (as of {today})")


@app.command("check")
def check(
    path: Annotated[
        Path | None, typer.Argument(help="An offerings.yaml to check (default: the shipped one).", dir_okay=False)
    ] = None,
) -> None:
    """Run the sanity rules on the offerings catalog: exit 1 on any error finding (stale ones are shown only)."""
    from foundation.catalog import sanity

    cat = _load(path)
    findings = sanity.check(cat, _today())
    print_findings(findings)
    errors = sanity.errors(findings)
    stale = len(findings) - len(errors)
    console.print(f"{len(cat.offerings)} offerings: {len(errors)} error(s), {stale} stale figure(s)")
    if errors:
        raise typer.Exit(EXIT_FOUND)


__all__ = ["app"]
