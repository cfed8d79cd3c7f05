"""The grammar of a host that `verify-nodes` may hand to ssh: ``[user@]host[:port]``.

Hosts come from people and from pull requests (``--hosts``, node names in a stack file). Before
any of them reaches ssh or testinfra it must parse as exactly one of:

- an RFC 1123 host name (labels of letters, digits and inner hyphens, ≤ 63 each, ≤ 253 in all);
- an IPv4 literal, or an IPv6 literal (bare, or in brackets when a port follows: ``[fd00::7]:2222``);

optionally preceded by a POSIX-portable user name and followed by a port 1-65535. Nothing else is
accepted: a leading ``-`` (``-oProxyCommand=…`` would be an ssh option), ``%`` (testinfra
URL-unquotes host specs), ``?``/``&``/``#`` (testinfra URL parameters), ``/``, spaces and quotes
are all outside the grammar. The ssh invocation additionally ends option parsing with ``--``
(runner.connect) so a future grammar bug still cannot become an option.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

# RFC 1123 §2.1 host name label; a host name is dot-separated labels, ≤ 253 characters in all.
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
# POSIX portable user name (IEEE Std 1003.1, 3.437), not starting with '-', ≤ 32 as useradd allows.
_USER = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}$")
EXAMPLES = "gpu-07, admin@gpu-07.dc1.internal:2222, 10.0.0.7, [fd00::7]:22"


class HostError(ValueError):
    """A host outside the grammar; str() is the reason, `fix` what to write instead."""

    def __init__(self, value: str, reason: str) -> None:
        self.value = value
        self.reason = reason
        self.fix = f"write [user@]host[:port], e.g. {EXAMPLES}."
        super().__init__(f"{value!r} {reason}")


@dataclass(frozen=True)
class Host:
    host: str
    user: str | None = None
    port: int | None = None

    @property
    def is_ipv6(self) -> bool:
        return ":" in self.host

    def uri(self, backend: str) -> str:
        """testinfra's host spec; every part is already inside the grammar, so nothing needs quoting."""
        name = f"[{self.host}]" if self.is_ipv6 else self.host
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{backend}://{user}{name}{port}"

    def __str__(self) -> str:
        return self.uri("")[3:]


def is_hostname(name: str) -> bool:
    """RFC 1123 host name (not an IP literal)."""
    if not name or len(name) > 253:
        return False
    return all(_LABEL.match(label) for label in name.removesuffix(".").split("."))


def _port(text: str, value: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise HostError(value, f"port {text!r} is not a number from 1 to 65535")
    return int(text)


def parse_host(value: str) -> Host:
    """Parse ``[user@]host[:port]``; raises HostError naming what is outside the grammar."""
    text = value.strip()
    if not text:
        raise HostError(value, "is empty")
    if len(text) > 300:
        raise HostError(value[:40] + "…", "is longer than any host name (253) plus user and port")
    user: str | None = None
    if "@" in text:
        user, text = text.split("@", 1)
        if not _USER.match(user):
            raise HostError(value, f"user {user!r} is not a POSIX user name (letters, digits, '_', '.', '-')")
    port: int | None = None
    if text.startswith("["):  # [ipv6] or [ipv6]:port
        inner, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise HostError(value, "a bracketed IPv6 address must be [address] or [address]:port")
        if rest:
            port = _port(rest[1:], value)
        try:
            ipaddress.IPv6Address(inner)
        except ValueError:
            raise HostError(value, f"{inner!r} is not an IPv6 address") from None
        return Host(inner, user, port)
    if text.count(":") > 1:  # a bare IPv6 literal cannot carry a port
        try:
            return Host(str(ipaddress.IPv6Address(text)), user, None)
        except ValueError:
            raise HostError(value, "is neither a host name nor an IP address (IPv6 with a port: [addr]:port)") from None
    if ":" in text:
        text, _, port_text = text.partition(":")
        port = _port(port_text, value)
    try:
        return Host(str(ipaddress.IPv4Address(text)), user, port)
    except ValueError:
        pass
    if not is_hostname(text) or text.replace(".", "").isdigit():
        raise HostError(
            value,
            "is not an RFC 1123 host name (letters, digits and inner '-', dot-separated) or an IP address",
        )
    return Host(text, user, port)
