"""Human approvals: asking through the client, the pending queue, session grants, the circuit breaker
and sealed ``request_state`` for 2026-07-28 clients.

The policy step calls ``Approver.request(call, AskContext(...))`` when a call's decision is ``prompt``.
"""

from gateway.approvals.approver import Approver, strip_gateway_inputs
from gateway.approvals.outcome import APPROVAL_KEY, RESUME_KEY, ApprovalOutcome, AskContext, OutcomeOption
from gateway.approvals.question import Question, build_question, preview_arguments
from gateway.approvals.sealing import (
    Binding,
    SealedStateError,
    StateBindingError,
    StateExpiredError,
    StateReplayedError,
    StateSealer,
    StateTamperedError,
    args_digest,
)
from gateway.approvals.settings import ApprovalSettings, load_approval_settings
from gateway.approvals.store import (
    ApprovalAlreadyAnsweredError,
    ApprovalStore,
    BreakerState,
    PendingApproval,
    SessionGrant,
    UnknownApprovalError,
)

__all__ = [
    "APPROVAL_KEY",
    "RESUME_KEY",
    "ApprovalAlreadyAnsweredError",
    "ApprovalOutcome",
    "ApprovalSettings",
    "ApprovalStore",
    "Approver",
    "AskContext",
    "Binding",
    "BreakerState",
    "OutcomeOption",
    "PendingApproval",
    "Question",
    "SealedStateError",
    "SessionGrant",
    "StateBindingError",
    "StateExpiredError",
    "StateReplayedError",
    "StateSealer",
    "StateTamperedError",
    "UnknownApprovalError",
    "args_digest",
    "build_question",
    "load_approval_settings",
    "preview_arguments",
    "strip_gateway_inputs",
]
