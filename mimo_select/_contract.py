"""The decision's JSON contract, described with pydantic for its schema and for tests."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReasonOut(_Strict):
    rule: str = Field(description="The preference rule id.")
    message: str


class CostOut(_Strict):
    amount: float = Field(description="The estimated cost of this request on this model.")
    currency: str
    input_tokens: int
    output_tokens: int
    input_assumed: bool = Field(description="The request gave no count: a setting was assumed.")
    output_assumed: bool = Field(description="The request gave no budget: a setting was assumed.")
    input_basis: str = Field(description='"exact", "estimate" or "at least" (no upper bound).')
    price_date: str = Field(description="The day the price used took effect.")
    official: bool = Field(description="False for a price only a third party reports.")


class CandidateOut(_Strict):
    model: str
    score: float = Field(description="Sum of the preference points; higher ranks first.")
    reasons: list[ReasonOut]
    cost: CostOut | None = Field(description="Null where the catalog knows no price.")


class NoticeOut(_Strict):
    model: str
    kind: str = Field(description="retired, deprecated, deprecation_reported, ...")
    date: str
    official: bool
    reported_by: str | None
    successor: str | None
    retires_on: str | None
    note: str | None
    update: str = Field(description="The update file that says so.")
    title: str
    source: dict[str, str | None]


class ViolationOut(_Strict):
    rule: str = Field(description="The constraint rule id.")
    limit: str = Field(description="The limit broken, e.g. context_window.")
    required: Any = Field(description="What the request needs.")
    allowed: Any = Field(description="What the model allows.")
    message: str
    certain: bool = Field(
        description="False when an inexact token count may or may not break the limit."
    )


class RejectionOut(_Strict):
    model: str
    violations: list[ViolationOut]


class SuggestionOut(_Strict):
    model: str
    changes: list[str] = Field(description="Changes to the request that make this model fit.")


class TokensOut(_Strict):
    input: int = Field(description="The input count (exact when `exact`).")
    exact: bool
    upper_bound: int | None = Field(description="Null where no bound is known.")
    tokenizer: str
    lower_bound: int | None = Field(default=None, description="Present when not exact.")
    parts: dict[str, int] = Field(description="Where the tokens come from.")
    notes: list[str] | None = None
    decided_on: list[int | None] | None = Field(
        default=None,
        description="Present when the count was refined for the report: the interval "
        "(lower, upper) the decision was made on.",
    )


class ShareOut(_Strict):
    model: str
    share: float = Field(description="The part of the requests this model takes, 0 to 1.")
    rpm: int | None
    tpm: int | None


class AccountsOut(_Strict):
    model: str
    accounts: int = Field(description="Accounts the best model needs to take the load alone.")


class PlanOut(_Strict):
    rpm: int | None
    tpm: int | None
    accounts: int
    covers: bool = Field(description="Whether the split carries the whole load.")
    split: list[ShareOut]
    accounts_needed: AccountsOut | None


class RequestedOut(_Strict):
    model: str
    fits: bool


class LeaseOut(_Strict):
    id: str
    model: str = Field(description="The model the reservation is counted against.")
    account: str
    tokens: int = Field(description="Tokens reserved: the input count plus the output budget.")
    source: str = Field(description='Where it is counted: "memory", "redis" or "local".')


class DecisionOut(_Strict):
    """mimo-select's answer for one request."""

    model_config = ConfigDict(title="Decision")
    model: str | None = Field(description="The chosen model id; null when nothing fits.")
    fallbacks: list[str] = Field(description="The next models to try, in order.")
    ranked: list[CandidateOut] = Field(description="Every eligible model, best first.")
    rejected: list[RejectionOut] = Field(description="Every ineligible model, in catalog order.")
    traits: dict[str, Any] = Field(description="The request traits the decision is for.")
    requested: RequestedOut | None = Field(
        default=None, description="Present when the body named a model: whether it fits."
    )
    notices: list[NoticeOut] | None = Field(
        default=None,
        description="Present when the catalog's update files have news of a model the answer "
        "names (the choice, a fallback, the requested model): retired, deprecated, reported.",
    )
    tokens: TokensOut | None = Field(
        default=None, description="Present when the input was counted from text or messages."
    )
    cautions: list[RejectionOut] | None = Field(
        default=None,
        description="Eligible models whose limits the request may break: only the upper bound "
        "of an uncertain count (media of unknown size) breaks them. See `tokens.notes`.",
    )
    plan: PlanOut | None = Field(
        default=None,
        description="Present when the planned RPM/TPM is more than any one model allows (the "
        "limits are per account and per model): a split over models or accounts.",
    )
    suggestions: list[SuggestionOut] | None = Field(
        default=None, description="Present when nothing fits: what would make a model fit."
    )
    lease: LeaseOut | None = Field(
        default=None,
        description="Present when decided with a usage store: the reservation already counted "
        "against `model`'s RPM and TPM.",
    )
    retry_after: float | None = Field(
        default=None,
        description="Present when decided with a usage store and every eligible model is full "
        "(rpm-live, tpm-live, cooldown-live): seconds until the first one frees.",
    )
