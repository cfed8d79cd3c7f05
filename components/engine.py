"""Facts about the engine this program runs under, for the few places that must know."""

from __future__ import annotations


def under_mocks() -> bool:
    """True inside Pulumi's mock monitor (the offline plan, the tests): no cloud may be asked there, and
    no callback server exists (resource transforms cannot run)."""
    from pulumi.runtime import mocks
    from pulumi.runtime.settings import SETTINGS

    return isinstance(SETTINGS.monitor, mocks.MockMonitor)
