"""aistack: one command to a complete AI platform on GCP, AWS or on-prem Kubernetes."""

import os

__version__ = "0.1.0"

# aistack uses no pydantic plugins; without this pydantic scans every installed distribution's entry
# points (importlib.metadata) before the first model is built: ~40 ms of every command's start-up.
# setdefault: a user who does want a plugin (e.g. for tracing) sets the variable and wins.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
