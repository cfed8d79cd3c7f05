"""Does every Helm values key aistack sets exist in the chart it is passed to?

Helm ignores unknown values keys silently: a misspelt or renamed key is a setting that never takes
effect. This reads a packaged chart (``<chart>-<version>.tgz`` as ``helm pull`` delivers it, its
dependencies unpacked under ``charts/``) and checks a values tree against it:

- a key is known when the chart's ``values.yaml`` has it at that path (a subchart's keys under the
  dependency's name or alias; ``global`` everywhere);
- below a default that is an empty map, ``null`` or a list, anything goes (a free-form map such as
  ``nodeSelector``, or a list the templates range over);
- a key the defaults leave out (documented only as a comment) is known when a template reads it as
  ``.Values.<path>``;
- where the chart ships ``values.schema.json``, the values must also pass that schema, as Helm
  itself enforces at install.
"""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml


@dataclass
class Chart:
    name: str
    defaults: dict[str, Any]
    schema: dict[str, Any] | None
    template_text: str  # every template, concatenated: for keys the defaults only document in comments
    subcharts: dict[str, Chart] = field(default_factory=dict)  # by alias or name
    conditions: set[tuple[str, ...]] = field(default_factory=set)  # dependency switches, e.g. grafana.enabled


def _load(files: Mapping[str, bytes], root: str) -> Chart:
    meta = yaml.safe_load(files[f"{root}/Chart.yaml"])
    defaults = yaml.safe_load(files.get(f"{root}/values.yaml", b"{}")) or {}
    schema_raw = files.get(f"{root}/values.schema.json")
    templates = "\n".join(
        body.decode("utf-8", "replace")
        for path, body in files.items()
        if path.startswith(f"{root}/templates/") and not path.startswith(f"{root}/charts/")
    )
    chart = Chart(meta["name"], defaults, json.loads(schema_raw) if schema_raw else None, templates)
    for dep in meta.get("dependencies") or []:
        sub = f"{root}/charts/{dep['name']}"
        if f"{sub}/Chart.yaml" in files:
            chart.subcharts[dep.get("alias") or dep["name"]] = _load(files, sub)
        for condition in str(dep.get("condition") or "").split(","):
            if condition.strip():
                chart.conditions.add(tuple(condition.strip().split(".")))
    return chart


@cache
def load_chart(tgz: Path) -> Chart:
    """A packaged chart and its unpacked dependencies."""
    files: dict[str, bytes] = {}
    with tarfile.open(tgz) as tar:
        for member in tar.getmembers():
            if member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None
                files[member.name] = extracted.read()
    (root,) = {name.split("/", 1)[0] for name in files}
    return _load(files, root)


def _free_form(default: Any) -> bool:
    return default is None or isinstance(default, list) or (isinstance(default, dict) and not default)


def _read_by_template(chart: Chart, path: tuple[str, ...]) -> bool:
    # `.Values.a.b.c` read anywhere, or a prefix of it rendered whole (`toYaml .Values.a.b`): then the
    # keys below are the object the template emits, not settings the chart interprets.
    if re.search(re.escape(".Values." + ".".join(path)) + _END, chart.template_text):
        return True
    return any(_rendered_whole(chart, path[:n]) for n in range(len(path) - 1, 0, -1))


_END = r"(?![A-Za-z0-9_.])"


def _rendered_whole(chart: Chart, path: tuple[str, ...]) -> bool:
    """`toYaml .Values.a.b`: the map is emitted as it is (a nodeSelector, annotations), keys are not settings."""
    ref = re.escape(".Values." + ".".join(path))
    direct = r"(?:toYaml|toJson|toPrettyJson)\s+\(?\s*" + ref + _END
    # `{{- with .Values.a.b }} … {{ toYaml . }}` before the block's end
    scoped = r"with\s+" + ref + _END + r"[^}]*}}(?:(?!{{-?\s*end).){0,400}?(?:toYaml|toJson)\s+\.\s*[|}]"
    return re.search(direct, chart.template_text) is not None or (
        re.search(scoped, chart.template_text, re.DOTALL) is not None
    )


def unknown_keys(chart: Chart, values: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[str]:
    """Dotted paths in ``values`` the chart neither defaults nor reads."""
    yield from _walk(chart, chart.defaults, values, prefix, ())


def _walk(
    chart: Chart, defaults: Any, values: Mapping[str, Any], shown: tuple[str, ...], path: tuple[str, ...]
) -> Iterator[str]:
    for key, value in values.items():
        here = (*path, key)
        if (not path and key == "global") or here in chart.conditions:
            continue
        if not path and key in chart.subcharts:
            if isinstance(value, Mapping):
                own = {k: v for k, v in value.items() if (key, k) not in chart.conditions}
                yield from unknown_keys(chart.subcharts[key], own, (*shown, key))
            continue
        if not isinstance(defaults, dict) or key not in defaults:
            if not _read_by_template(chart, here):
                yield ".".join((*shown, *here))
            continue
        default = defaults[key]
        if isinstance(value, Mapping) and not _free_form(default) and not _rendered_whole(chart, here):
            yield from _walk(chart, default, value, shown, here)


def schema_errors(chart: Chart, values: Mapping[str, Any]) -> list[str]:
    """Where the chart ships values.schema.json: the merged values against it, as Helm checks at install."""
    import jsonschema

    errors: list[str] = []
    if chart.schema is not None:
        merged = _merge(chart.defaults, values)
        validator = jsonschema.Draft7Validator(chart.schema)
        errors += [
            f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(merged)
        ]
    for key, sub in chart.subcharts.items():
        sub_values = values.get(key)
        errors += [f"{key}.{e}" for e in schema_errors(sub, sub_values if isinstance(sub_values, Mapping) else {})]
    return errors


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, Mapping):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base.get(k), v)
        return out
    return over
