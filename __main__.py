"""Pulumi entry point: `pulumi up -s <stack>` runs this with the stack's config."""

from aistack.preflight.hook import run_preflight
from components.program import main

main(preflight=run_preflight)
