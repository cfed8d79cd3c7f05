"""Entry point the Pulumi engine runs for `pulumi preview --policy-pack policies`."""

import pulumi_policy
from pack import build, profile
from pulumi_policy import PolicyPack

PolicyPack(name="aistack-compliance", policies=build(pulumi_policy, profile()))
