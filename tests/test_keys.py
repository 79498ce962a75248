"""Key templates: the one place keys are spelled."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopgraph.data import entities
from shopgraph.data.model import Template
from shopgraph.data.table import GSI1
from shopgraph.errors import BadUserInput

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_key_table_is_written_from_the_templates() -> None:
    text = README.read_text()
    table = text.split("<!-- keys:begin -->\n", 1)[1].split("<!-- keys:end -->", 1)[0]
    assert table == entities.key_table_markdown()


@pytest.mark.parametrize("bad", ["", "a#b", "USER#x", "x" * 65, "sp ace", "é", "a/b"])
def test_ids_outside_the_alphabet_are_refused_before_a_key_is_built(bad: str) -> None:
    with pytest.raises(BadUserInput):
        entities.USER.key(id=bad)
    with pytest.raises(BadUserInput):
        entities.PRODUCT.key(id=bad)


def test_no_key_part_may_hold_the_separator() -> None:
    with pytest.raises(BadUserInput):
        entities.PRODUCT.index_key(GSI1, category="books#x", id="p1")
    assert entities.PRODUCT.index_key(GSI1, category="books", id="p1") == {
        "GSI1PK": "CAT#books",
        "GSI1SK": "PRODUCT#p1",
    }


def test_order_ids_encode_the_whole_key_and_round_trip() -> None:
    ref = entities.OrderRef("u-1", "2026-03-15T10:00:00.000Z", "N0001")
    assert entities.OrderRef.decode(ref.encode()) == ref
    assert ref.key == {"PK": "USER#u-1", "SK": "ORDER#2026-03-15T10:00:00.000Z#N0001"}


@pytest.mark.parametrize("bad", ["", "not base64!", "dTF8eA", "a" * 300])
def test_malformed_order_ids_are_bad_input(bad: str) -> None:
    with pytest.raises(BadUserInput):
        entities.OrderRef.decode(bad)


def test_templates_parse_what_they_build() -> None:
    template = entities.ORDER.sort_key()
    assert isinstance(template, Template)
    sk = template.build(created_at="2026-03-15T10:00:00.000Z", number="N1")
    assert template.parse(sk) == {"created_at": "2026-03-15T10:00:00.000Z", "number": "N1"}
