"""Key templates: the one place keys are spelled."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopgraph.data import keys
from shopgraph.errors import BadUserInput

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_key_table_is_written_from_the_templates() -> None:
    text = README.read_text()
    table = text.split("<!-- keys:begin -->\n", 1)[1].split("<!-- keys:end -->", 1)[0]
    assert table == keys.key_table_markdown()


@pytest.mark.parametrize("bad", ["", "a#b", "USER#x", "x" * 65, "sp ace", "é", "a/b"])
def test_ids_outside_the_alphabet_are_refused_before_a_key_is_built(bad: str) -> None:
    with pytest.raises(BadUserInput):
        keys.USER.key(user_id=bad)
    with pytest.raises(BadUserInput):
        keys.PRODUCT.key(product_id=bad)


def test_no_key_part_may_hold_the_separator() -> None:
    with pytest.raises(BadUserInput):
        keys.PRODUCT.gsi1(category="books#x", product_id="p1")
    assert keys.PRODUCT.gsi1(category="books", product_id="p1") == {
        "GSI1PK": "CAT#books",
        "GSI1SK": "PRODUCT#p1",
    }


def test_order_ids_encode_the_whole_key_and_round_trip() -> None:
    ref = keys.OrderRef("u-1", "2026-03-15T10:00:00.000Z", "N0001")
    assert keys.OrderRef.decode(ref.encode()) == ref
    assert ref.key == {"PK": "USER#u-1", "SK": "ORDER#2026-03-15T10:00:00.000Z#N0001"}


@pytest.mark.parametrize("bad", ["", "not base64!", "dTF8eA", "a" * 300])
def test_malformed_order_ids_are_bad_input(bad: str) -> None:
    with pytest.raises(BadUserInput):
        keys.OrderRef.decode(bad)


def test_templates_parse_what_they_build() -> None:
    sk = keys.ORDER.sk.build(created_at="2026-03-15T10:00:00.000Z", number="N1")
    assert keys.ORDER.sk.parse(sk) == {"created_at": "2026-03-15T10:00:00.000Z", "number": "N1"}
