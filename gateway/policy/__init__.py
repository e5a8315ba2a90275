"""The policy engine: rules in ``policies/*.yaml`` decide allow / prompt / deny for every tool call, with the why.

Typical use::

    policies = await anyio.to_thread.run_sync(load_policies, config_dir / "policies", [user_file])
    decision = policies.evaluate(PolicyRequest.from_call(call))
    if decision.decision == "deny":
        raise PolicyDeniedError(decision.justification, rule_id=decision.rule_id)
"""

from gateway.policy.amend import always_rule_id, append_always_rule, append_always_rule_async
from gateway.policy.engine import CompiledRule, Decision, DecisionSource, MatchedRule, PolicyRequest, PolicySet
from gateway.policy.loader import LintReport, lint_policies, load_policies, load_policy_file, policy_files
from gateway.policy.models import ApprovalMode, DecisionValue, PolicyFile, RuleSpec

__all__ = [
    "ApprovalMode",
    "CompiledRule",
    "Decision",
    "DecisionSource",
    "DecisionValue",
    "LintReport",
    "MatchedRule",
    "PolicyFile",
    "PolicyRequest",
    "PolicySet",
    "RuleSpec",
    "always_rule_id",
    "append_always_rule",
    "append_always_rule_async",
    "lint_policies",
    "load_policies",
    "load_policy_file",
    "policy_files",
]
