"""IAM helpers: trust policies and least-privilege documents as plain data."""

from __future__ import annotations

import json
from typing import Any

import pulumi

MANAGED = "arn:aws:iam::aws:policy/"


def trust(service: str, actions: tuple[str, ...] = ("sts:AssumeRole",)) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": list(actions)}],
        }
    )


def bucket_access_policy(bucket_arns: dict[str, pulumi.Input[str]], writable: set[str]) -> pulumi.Output[str]:
    """Read on every listed bucket, write only on ``writable``; never a '*' resource."""

    def doc(arns: dict[str, str]) -> str:
        statements: list[dict[str, Any]] = [
            {"Sid": "List", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": sorted(arns.values())},
            {
                "Sid": "Read",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": sorted(f"{a}/*" for a in arns.values()),
            },
        ]
        rw = sorted(f"{a}/*" for p, a in arns.items() if p in writable)
        if rw:
            statements.append(
                {"Sid": "Write", "Effect": "Allow", "Action": ["s3:PutObject", "s3:DeleteObject"], "Resource": rw}
            )
        return json.dumps({"Version": "2012-10-17", "Statement": statements})

    return pulumi.Output.all(**bucket_arns).apply(lambda arns: doc(dict(arns)))
