"""The interception chain: every tool call passes through small steps of one shape."""

from gateway.intercept.call import ClientChannel, EventSink, Identity, NullEventSink, ToolCall
from gateway.intercept.chain import CallNext, CallResult, Step, compose

__all__ = [
    "CallNext",
    "CallResult",
    "ClientChannel",
    "EventSink",
    "Identity",
    "NullEventSink",
    "Step",
    "ToolCall",
    "compose",
]
