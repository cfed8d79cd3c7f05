"""Alert receivers' credentials (issue #18 item 7): accepted only as Pulumi secrets beside the spec, carried
into a Kubernetes Secret that Alertmanager reads through ``*_file`` fields, and never shown by plan,
manifests, validate or the program's errors."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from aistack.offline import PlannedResource, engine_secret_keys, plan
from components.platform import monitoring
from components.spec import LoadedStack, SpecError, load_stack, parse_spec
from tests.conftest import CREDENTIALS, ROOT, plan_values, run_aistack, stack_values

KEY = "aistack:alert_credentials"
# Recognisable fakes: none of them may ever appear in a plan, a manifest or a message.
FAKE = {
    "chat": "https://hooks.slack.com/services/TFAKE0000/BFAKE0000/FAKE-SLACK-WEBHOOK-7f3a",
    "page": "FAKEPAGERDUTYROUTINGKEY7F3A00001",
    "hook": "https://alerts.example.internal/hook?token=FAKE-WEBHOOK-TOKEN-7f3a",
}
RECEIVERS = [
    {"name": "chat", "type": "slack", "target": "#gpu-alerts"},
    {"name": "page", "type": "pagerduty"},
    {"name": "hook", "type": "webhook"},
    {"name": "mail", "type": "email", "target": "ml-oncall@example.com"},
]
SECRET = "alertmanager-aistack-receivers"


def with_receivers(receivers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    values = stack_values("onprem-gpu")
    values["monitoring"] = {"alert_receivers": RECEIVERS if receivers is None else receivers}
    return values


def stack_file(tmp_path: Path, credentials: Any, receivers: list[dict[str, Any]] | None = None) -> Path:
    """The on-prem example with alert receivers and, unless None, an aistack:alert_credentials value."""
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.onprem-gpu.yaml").read_text())
    doc["config"]["aistack:monitoring"] = {"alert_receivers": RECEIVERS if receivers is None else receivers}
    if credentials is not None:
        doc["config"][KEY] = credentials
    path = tmp_path / "Pulumi.alerts.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def secure(value: str) -> dict[str, str]:
    """How `pulumi config set --secret --path` stores a leaf (ciphertext; offline it cannot be decrypted)."""
    return {"secure": value}


def issues_of(path: Path) -> dict[str, tuple[str, str]]:
    with pytest.raises(SpecError) as exc:
        load_stack(str(path))
    for fake in FAKE.values():
        assert fake not in str(exc.value), "an error message quoted a credential"
    return {i.path: (i.reason, i.fix) for i in exc.value.issues}


def aistack(*args: str) -> subprocess.CompletedProcess[str]:
    return run_aistack(*args, env={"PATH": "/usr/bin:/bin", "COLUMNS": "250", "HOME": str(Path.home())})


# ------------------------------------------------------------------ validation


def test_plain_text_credential_is_rejected_with_the_exact_fix(tmp_path: Path) -> None:
    creds = {"chat": FAKE["chat"], "page": secure("AAAB-page"), "hook": secure("AAAB-hook")}
    issues = issues_of(stack_file(tmp_path, creds))
    reason, fix = issues[f"{KEY}.chat"]
    assert "plain text" in reason
    assert fix == (f"pulumi config rm --path '{KEY}.chat' && pulumi config set --secret --path '{KEY}.chat' <value>.")
    assert set(issues) == {f"{KEY}.chat"}, "the secret leaves beside it are fine"


def test_plain_text_credentials_are_rejected_by_the_cli_without_echoing_them(tmp_path: Path) -> None:
    result = aistack("validate", str(stack_file(tmp_path, dict(FAKE))))
    assert result.returncode == 2
    out = result.stdout + result.stderr
    assert "pulumi config rm --path" in out and "plain text" in out
    for fake in FAKE.values():
        assert fake not in out


def test_missing_credential_is_rejected(tmp_path: Path) -> None:
    issues = issues_of(stack_file(tmp_path, {"chat": secure("AAAB-chat")}))
    assert set(issues) == {f"{KEY}.page", f"{KEY}.hook"}
    reason, fix = issues[f"{KEY}.page"]
    assert "monitoring.alert_receivers[1]" in reason and "PagerDuty Events v2 routing key" in reason
    assert fix.startswith(f"pulumi config set --secret --path '{KEY}.page' ")
    assert set(issues_of(stack_file(tmp_path, None))) == {f"{KEY}.chat", f"{KEY}.page", f"{KEY}.hook"}


def test_no_credential_needed_for_email_or_without_monitoring(tmp_path: Path) -> None:
    email_only = [RECEIVERS[3]]
    assert load_stack(str(stack_file(tmp_path, None, email_only))).spec.monitoring.alert_receivers
    values = with_receivers()
    values["monitoring"]["enabled"] = False
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.onprem-gpu.yaml").read_text())
    doc["config"]["aistack:monitoring"] = values["monitoring"]
    path = tmp_path / "Pulumi.off.yaml"
    path.write_text(yaml.safe_dump(doc))
    load_stack(str(path))


@pytest.mark.parametrize(
    ("receiver", "target"),
    [
        ("slack", FAKE["chat"]),
        ("slack", "hooks.slack.com/services/TFAKE0000/BFAKE0000/FAKE"),
        ("webhook", FAKE["hook"]),
        ("pagerduty", FAKE["page"]),
    ],
)
def test_credential_in_target_is_rejected(receiver: str, target: str) -> None:
    values = with_receivers([{"name": "oncall", "type": receiver, "target": target}])
    with pytest.raises(SpecError) as exc:
        parse_spec(values)
    (issue,) = exc.value.issues
    assert issue.path == "monitoring.alert_receivers[0].target"
    assert "credential" in issue.reason
    assert f"pulumi config set --secret --path '{KEY}.oncall'" in issue.reason
    assert target not in str(exc.value), "the error quoted the credential"


@pytest.mark.parametrize(
    ("receiver", "words"),
    [
        ({"name": "chat", "type": "slack"}, "needs target"),
        ({"name": "chat", "type": "slack", "target": "#gpu alerts"}, "channel"),
        ({"name": "mail", "type": "email"}, "needs target"),
        ({"name": "mail", "type": "email", "target": "oncall"}, "email address"),
        ({"name": "page", "type": "pagerduty", "target": "platform-team"}, "takes no target"),
        ({"name": "hook", "type": "webhook", "target": "ops"}, "takes no target"),
    ],
)
def test_target_depends_on_the_receiver_type(receiver: dict[str, str], words: str) -> None:
    with pytest.raises(SpecError) as exc:
        parse_spec(with_receivers([receiver]))
    (issue,) = exc.value.issues
    assert issue.path == "monitoring.alert_receivers[0].target" and words in issue.reason


def test_credential_for_an_unknown_receiver_is_rejected(tmp_path: Path) -> None:
    creds = {"chta": secure("x"), "page": secure("p"), "hook": secure("h"), "chat": secure("c")}
    reason, fix = issues_of(stack_file(tmp_path, creds))[f"{KEY}.chta"]
    assert "no slack, pagerduty or webhook receiver 'chta'" in reason and fix == "did you mean 'chat'?"
    creds = {"mail": secure("m"), "page": secure("p"), "hook": secure("h"), "chat": secure("c")}
    reason, fix = issues_of(stack_file(tmp_path, creds))[f"{KEY}.mail"]
    assert "email receiver, which takes no credential" in reason and fix == f"pulumi config rm --path '{KEY}.mail'."


@pytest.mark.parametrize("value", ["just-text", ["a", "b"], {"chat": {"nested": "x"}}])
def test_credentials_must_be_a_mapping_of_text(tmp_path: Path, value: Any) -> None:
    ((path, (reason, fix)),) = issues_of(stack_file(tmp_path, value)).items()
    assert path == KEY
    assert ("must be a mapping of receiver name" if not isinstance(value, dict) else "chat: must be text") in reason
    assert fix.startswith(f"pulumi config rm {KEY}, then") and "--secret --path" in fix


def test_whole_key_secret_is_accepted_offline(tmp_path: Path) -> None:
    """`pulumi config set --secret aistack:alert_credentials '{...}'`: one secure JSON text, opaque offline."""
    loaded = load_stack(str(stack_file(tmp_path, secure("AAAB-whole"))))
    assert KEY in loaded.secret_keys
    resources = plan(loaded).resources
    assert receivers_secret(resources).inputs["stringData"] == "[secret]"


# ------------------------------------------------------------------ the program (engine-style config)


def program_issues(config: dict[str, Any], secret_keys: list[str]) -> str:
    from pulumi.runtime import mocks
    from pulumi.runtime.config import set_all_config

    from aistack.offline import EchoMocks, RecordingMonitor, config_for_engine
    from components.program import spec_from_config

    mocks.set_mocks(EchoMocks(), project="aistack", stack="alerts", preview=True, monitor=RecordingMonitor(EchoMocks()))
    full = {f"aistack:{k}": v for k, v in {**with_receivers(), **CREDENTIALS}.items()}
    set_all_config(config_for_engine({**full, **config}), [*(f"aistack:{k}" for k in CREDENTIALS), *secret_keys])
    try:
        spec_from_config()
    except pulumi.RunError as exc:
        return str(exc)
    finally:
        set_all_config({}, [])
    return ""


def test_program_rejects_credentials_that_are_not_secrets() -> None:
    text = program_issues({KEY: FAKE}, [])
    assert f"{KEY}.chat: is a credential stored in plain text" in text
    assert f"pulumi config rm --path '{KEY}.page'" in text
    assert not any(fake in text for fake in FAKE.values())
    assert program_issues({KEY: FAKE}, [KEY]) == ""
    missing = program_issues({KEY: {"chat": FAKE["chat"]}}, [KEY])
    assert f"{KEY}.page" in missing and f"{KEY}.hook" in missing and FAKE["chat"] not in missing


def test_engine_lists_a_structured_key_with_a_secure_leaf_as_secret() -> None:
    assert engine_secret_keys((f"{KEY}.chat", "aistack:object_store_access_key_id")) == [
        KEY,
        f"{KEY}.chat",
        "aistack:object_store_access_key_id",
    ]


# ------------------------------------------------------------------ the platform


def receivers_secret(resources: list[PlannedResource]) -> PlannedResource:
    (found,) = [r for r in resources if r.inputs.get("kind") == "Secret" and r.inputs["metadata"]["name"] == SECRET]
    return found


@pytest.fixture(scope="module")
def planned() -> Any:
    """The plan of a stack with every receiver type and the fake credentials as secrets, plus the raw
    (unmasked) inputs of the receivers' Secret as the engine would get them."""
    from aistack import offline

    raw: dict[str, Any] = {}
    original = offline.EchoMocks.new_resource

    def capture(self: offline.EchoMocks, args: Any) -> Any:
        if args.typ == "kubernetes:core/v1:Secret" and args.inputs.get("metadata", {}).get("name") == SECRET:
            raw.update(copy.deepcopy(dict(args.inputs)))
        return original(self, args)

    offline.EchoMocks.new_resource = capture  # type: ignore[method-assign]
    try:
        values = with_receivers()
        secrets = {**CREDENTIALS, "alert_credentials": FAKE}
        config = {f"aistack:{k}": v for k, v in {**values, **secrets}.items()}
        loaded = LoadedStack("alerts", Path("x"), parse_spec(values), config, tuple(f"aistack:{k}" for k in secrets))
        p = plan(loaded)
    finally:
        offline.EchoMocks.new_resource = original  # type: ignore[method-assign]
    return p, raw


def unwrap(value: Any) -> Any:
    """Secret markers (the SDK's wire form) → their values."""
    if isinstance(value, dict):
        if "value" in value and len(value) == 2:
            return unwrap(value["value"])
        return {k: unwrap(v) for k, v in value.items()}
    return value


def test_credentials_reach_the_secret_as_pulumi_secrets(planned: Any) -> None:
    p, raw = planned
    secret = receivers_secret(p.resources)
    assert secret.inputs["metadata"]["namespace"] == monitoring.NAMESPACE
    assert secret.inputs["stringData"] == "[secret]", "the data is a Pulumi secret, masked in the plan"
    assert unwrap(raw["stringData"]) == {name: FAKE[name] for name in ("chat", "page", "hook")}


def test_alertmanager_reads_credentials_from_the_mounted_secret(planned: Any) -> None:
    p, _ = planned
    (chart,) = [r for r in p.resources if r.name.endswith("-kube-prometheus-stack")]
    assert receivers_secret(p.resources).urn in chart.dependencies, "the Secret exists before the chart mounts it"
    am = chart.inputs["values"]["alertmanager"]
    assert am["alertmanagerSpec"]["secrets"] == [SECRET]
    receivers = {r["name"]: r for r in am["config"]["receivers"]}
    base = f"/etc/alertmanager/secrets/{SECRET}"
    assert receivers["chat"]["slack_configs"] == [
        {"api_url_file": f"{base}/chat", "channel": "#gpu-alerts", "send_resolved": True}
    ]
    assert receivers["page"]["pagerduty_configs"] == [{"routing_key_file": f"{base}/page", "send_resolved": True}]
    assert receivers["hook"]["webhook_configs"] == [{"url_file": f"{base}/hook", "send_resolved": True}]
    assert receivers["mail"]["email_configs"] == [{"to": "ml-oncall@example.com", "send_resolved": True}]


def test_no_credential_in_the_plan_or_the_manifests(planned: Any, tmp_path: Path) -> None:
    from aistack.cli.manifests import write_manifests

    p, _ = planned
    text = p.dumps()
    for fake in FAKE.values():
        assert fake not in text
    assert f"monitoring/{SECRET}" in p.omitted_secrets()
    written = write_manifests(p.kubernetes_objects(), tmp_path)
    assert written
    for path in written:
        content = path.read_text()
        assert not any(fake in content for fake in FAKE.values()), path.name
    assert not any(SECRET in path.name for path in written), "Secrets with Pulumi-secret data are not written"


def test_no_receivers_secret_without_credential_receivers() -> None:
    resources = plan_values(with_receivers([RECEIVERS[3]]))
    assert not [r for r in resources if r.inputs.get("kind") == "Secret" and SECRET in str(r.inputs)]
    (chart,) = [r for r in resources if r.name.endswith("-kube-prometheus-stack")]
    assert "alertmanagerSpec" not in chart.inputs["values"]["alertmanager"]


def test_cli_never_prints_a_credential(tmp_path: Path) -> None:
    """Secure leaves whose ciphertext is the recognisable fake: the offline tools cannot decrypt them
    and must not print them either."""
    path = stack_file(tmp_path, {name: secure(value) for name, value in FAKE.items()})
    outputs = []
    for command in (["validate"], ["plan"], ["plan", "--json"], ["manifests", "--out", str(tmp_path / "m")]):
        result = aistack(command[0], str(path), *command[1:])
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout + result.stderr)
    plan_json = json.loads(outputs[2])
    assert any(r["inputs"].get("metadata", {}).get("name") == SECRET for r in plan_json["resources"])
    assert f"monitoring/{SECRET} is not written" in " ".join(outputs[3].split())
    files = [p.read_text() for p in (tmp_path / "m").iterdir()]
    for fake in FAKE.values():
        assert not any(fake in out for out in outputs)
        assert not any(fake in f for f in files)
