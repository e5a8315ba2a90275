"""The ``{secret: NAME}`` reference syntax used in ``upstreams.yaml`` (resolution lives in ``gateway.credentials``)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["SECRET_NAME_PATTERN", "SecretRef", "SecretOrLiteral", "secret_names"]

SECRET_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"  # noqa: S105 - a regex, not a secret


class SecretRef(BaseModel):
    """A reference to a credential stored in the OS keyring.

    ``template`` places the secret inside a larger value, e.g. ``"Bearer {secret}"``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    secret: Annotated[str, Field(pattern=SECRET_NAME_PATTERN)]
    template: str = "{secret}"

    @field_validator("template")
    @classmethod
    def _template_has_placeholder(cls, value: str) -> str:
        if value.count("{secret}") != 1:
            raise ValueError('template must contain "{secret}" exactly once, e.g. "Bearer {secret}"')
        # Any other brace would be ambiguous with str.format; keep the syntax tiny and literal.
        if re.search(r"[{}]", value.replace("{secret}", "")):
            raise ValueError('template may contain no braces other than "{secret}"')
        return value

    def render(self, value: str) -> str:
        return self.template.replace("{secret}", value)


SecretOrLiteral = str | SecretRef


def secret_names(values: dict[str, SecretOrLiteral]) -> list[str]:
    """The credential names referenced by a mapping of values."""
    return [v.secret for v in values.values() if isinstance(v, SecretRef)]
