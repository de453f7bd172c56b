"""Canonical JSON: one byte string per value, whatever order or form the value came in."""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labledger._foundation.canonical import canonical_json, canonical_text
from labledger._foundation.digests import digest_record

if TYPE_CHECKING:
    import random

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5)
    ),
    max_leaves=30,
)


def test_keys_are_sorted_at_every_depth() -> None:
    value = {"b": 1, "a": {"z": [3, {"y": 1, "x": 2}], "c": None}}
    assert canonical_json(value) == b'{"a":{"c":null,"z":[3,{"x":2,"y":1}]},"b":1}'


def test_separators_are_minimal_and_literals_are_json() -> None:
    assert canonical_text([1, 2.5, True, False, None, "s"]) == '[1,2.5,true,false,null,"s"]'


def test_floats_use_the_shortest_round_trip_form() -> None:
    assert canonical_text(0.1) == "0.1"
    assert canonical_text(1.0) == "1.0"
    assert canonical_text(1e300) == "1e+300"
    assert json.loads(canonical_text(0.1 + 0.2)) == 0.1 + 0.2


@pytest.mark.parametrize(
    ("value", "text"),
    [(math.nan, '"NaN"'), (math.inf, '"Infinity"'), (-math.inf, '"-Infinity"')],
)
def test_non_finite_floats_become_strings(value: float, text: str) -> None:
    assert canonical_text(value) == text
    assert canonical_text({"v": [value]}) == '{"v":[' + text + "]}"


def test_text_is_utf8_not_escaped() -> None:
    assert canonical_json({"clé": "µg/mL ✓ 日本"}) == '{"clé":"µg/mL ✓ 日本"}'.encode()
    # Control characters still have to be escaped to be JSON.
    assert canonical_text("a\nb\x00") == '"a\\nb\\u0000"'


def test_tuples_are_lists() -> None:
    assert canonical_json((1, (2, 3))) == canonical_json([1, [2, 3]]) == b"[1,[2,3]]"


def test_dict_subclasses_and_bool_int_distinction() -> None:
    assert canonical_json(OrderedDict([("b", 1), ("a", 2)])) == b'{"a":2,"b":1}'
    assert canonical_json(True) != canonical_json(1)
    assert canonical_json(1) != canonical_json(1.0)


@pytest.mark.parametrize(
    "value",
    [
        {1, 2},
        b"bytes",
        object(),
        Decimal("1.5"),
        1j,
        {"k": {"nested": frozenset()}},
        [bytearray(b"x")],
    ],
)
def test_rejects_values_json_cannot_hold(value: Any) -> None:
    with pytest.raises(TypeError, match="not JSON-able"):
        canonical_json(value)


def test_rejects_non_string_keys() -> None:
    with pytest.raises(TypeError, match="keys must be str"):
        canonical_json({1: "a"})
    with pytest.raises(TypeError, match="keys must be str"):
        canonical_json({"ok": {None: 1}})


@given(json_values, st.randoms(use_true_random=False))
def test_stable_under_key_permutation(value: Any, rnd: random.Random) -> None:
    def shuffled(v: Any) -> Any:
        if isinstance(v, dict):
            items = list(v.items())
            rnd.shuffle(items)
            return {k: shuffled(item) for k, item in items}
        if isinstance(v, list):
            return [shuffled(item) for item in v]
        return v

    assert canonical_json(shuffled(value)) == canonical_json(value)


@given(json_values)
def test_round_trips_through_json(value: Any) -> None:
    data = canonical_json(value)
    assert json.loads(data) == value
    assert canonical_json(json.loads(data)) == data


@given(json_values, json_values)
def test_record_digests_are_equal_exactly_when_canonical_bytes_are(a: Any, b: Any) -> None:
    assert (digest_record(a) == digest_record(b)) == (canonical_json(a) == canonical_json(b))


@given(json_values)
def test_record_digest_is_deterministic(value: Any) -> None:
    assert digest_record(value) == digest_record(json.loads(canonical_json(value)))
