"""verify-nodes reports: a rich table per host x check, JSON and JUnit XML for CI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from .runner import Result

STYLE = {"pass": "green", "fail": "red", "error": "bold red", "skip": "dim"}


def table(results: Sequence[Result]) -> Table:
    t = Table(title="verify-nodes", title_justify="left", show_lines=False)
    for col in ("host", "check", "status", "detail", "to fix"):
        t.add_column(col, overflow="fold")
    for r in results:
        status = r.status if r.required or r.status == "pass" else f"{r.status} (advisory)"
        t.add_row(r.host, r.check, Text(status, style=STYLE[r.status]), r.detail, r.fix)
    return t


def summary(results: Sequence[Result]) -> dict[str, int]:
    hosts = {r.host for r in results}
    failed_hosts = {r.host for r in results if r.failed}
    return {
        "hosts": len(hosts),
        "hosts_ready": len(hosts - failed_hosts),
        "checks": len(results),
        "failed_required": sum(r.failed for r in results),
        "failed_advisory": sum(r.status == "fail" and not r.required for r in results),
    }


def as_json(results: Sequence[Result]) -> str:
    return json.dumps({"summary": summary(results), "results": [r.as_json() for r in results]}, indent=2)


def as_junit(results: Sequence[Result]) -> str:
    """One testsuite per host, one testcase per check; advisory failures are reported as skipped."""
    suites = ET.Element("testsuites", name="aistack verify-nodes")
    for host in dict.fromkeys(r.host for r in results):
        mine = [r for r in results if r.host == host]
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=host,
            tests=str(len(mine)),
            failures=str(sum(r.status == "fail" and r.required for r in mine)),
            errors=str(sum(r.status == "error" for r in mine)),
            skipped=str(sum(r.status == "skip" or (r.status == "fail" and not r.required) for r in mine)),
        )
        for r in mine:
            case = ET.SubElement(suite, "testcase", classname=f"verify-nodes.{host}", name=r.check)
            message = f"{r.detail}. To fix: {r.fix}" if r.fix else r.detail
            if r.status == "error":
                ET.SubElement(case, "error", message=message)
            elif r.status == "fail" and r.required:
                ET.SubElement(case, "failure", message=message)
            elif r.status != "pass":
                ET.SubElement(case, "skipped", message=message)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)
