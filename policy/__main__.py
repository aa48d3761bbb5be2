"""dermascan's CrossGuard policy pack: `pulumi preview --policy-pack policy` serves it."""

from pack import POLICIES  # type: ignore[import-not-found]  # run from this folder
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name="dermascan", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
