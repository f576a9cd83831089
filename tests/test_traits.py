"""Traits: names checked against the catalog vocabulary, immutable and hashable."""

from __future__ import annotations

import pytest

from mimo_select import Traits, TraitsError


def test_defaults_and_voice_implies_speech() -> None:
    t = Traits()
    assert (t.input_modalities, t.output_modality, t.latency) == (
        frozenset({"text"}),
        "text",
        "normal",
    )
    assert Traits(voice="clone").output_modality == "speech"


def test_lists_become_frozensets_and_equal_traits_hash_equal() -> None:
    a = Traits(input_modalities=["text", "image"], features=("streaming",))
    b = Traits(input_modalities={"image", "text"}, features=["streaming"])
    assert a == b
    assert hash(a) == hash(b)
    assert a.input_modalities == frozenset({"text", "image"})
    with pytest.raises(AttributeError):
        a.latency = "low"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "where", "text"),
    [
        ({"input_modalities": ["imag"]}, "input_modalities", "did you mean 'image'?"),
        ({"features": ["function_calls"]}, "features", "did you mean 'function_call'?"),
        ({"features": ["text_generation"]}, "features", "allowed: deep_thinking, function_call"),
        ({"voice": "cloned"}, "voice", "allowed: clone, design, preset"),
        ({"latency": "fast"}, "latency", "allowed: low, normal"),
        ({"output_modality": "video"}, "output_modality", "allowed: speech, text"),
        ({"voice": "preset", "output_modality": "text"}, "output_modality", "needs speech output"),
        ({"input_tokens": -1}, "input_tokens", "must not be negative"),
        ({"max_output_tokens": "5"}, "max_output_tokens", "expected a whole number"),
        ({"expected_rpm": True}, "expected_rpm", "expected a whole number"),
        ({"input_modalities": []}, "input_modalities", "at least one input modality"),
    ],
)
def test_unknown_values_list_the_allowed_ones(kwargs: dict, where: str, text: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(TraitsError) as info:
        Traits(**kwargs)
    assert info.value.where == where
    assert text in str(info.value)


def test_json_round_trip_and_unknown_keys() -> None:
    t = Traits(input_tokens=10, features=["web_search"], allow=["mimo-v2-flash"])
    assert Traits.from_json(t.to_json()) == t
    with pytest.raises(
        TraitsError, match="unknown trait 'input_token' \\(did you mean 'input_tokens'"
    ):
        Traits.from_json({"input_token": 5})
