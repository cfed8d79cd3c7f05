"""Pulumi entry point: `pulumi up -s <stack>` runs this with the stack's config."""

from components.program import main

main()
