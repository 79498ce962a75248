"""How an entity is declared: its attributes, then its table key and every index
key as templates of those attributes, in one place.

An `Entity` wraps a frozen dataclass. The dataclass fields are the attributes
(stored under their camelCase names); `Key`s name the templates of the table key
and of each index. Everything else is derived from that one declaration:
building an item, reading one back, the key for a read, and which index keys a
partial update must rewrite (`Entity.change`), so no write builds an index key by
hand.

A `Template` such as ``"USER#{id}"`` builds a key attribute from named parts and
parses it back. Parts are checked before any key is built: an entity's id parts
must be 1-64 characters of ``[A-Za-z0-9_-]``, and no part may hold the ``#``
separator, which would let one entity's input reach into another entity's keys.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import re
import string
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar

from shopgraph.data.codec import Item
from shopgraph.data.table import TABLE_INDEX, Index
from shopgraph.errors import BadUserInput

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SEPARATOR = "#"
ENTITY_TYPE = "entityType"

T = TypeVar("T")


def validate_id(value: str, what: str = "id") -> str:
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise BadUserInput(f"Invalid {what}: ids are 1-64 characters of A-Z, a-z, 0-9, _ and -")
    return value


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass(frozen=True)
class Template:
    pattern: str
    # Parts that are ids and follow ID_PATTERN; other parts (emails, timestamps,
    # statuses, categories) are validated where they enter the system, and only
    # need to be free of the separator.
    ids: frozenset[str] = frozenset()

    # Keys are built on every read: the pattern is parsed once, not per key.
    @functools.cached_property
    def fields(self) -> tuple[str, ...]:
        return tuple(f for _, f, _, _ in string.Formatter().parse(self.pattern) if f)

    @functools.cached_property
    def _regex(self) -> re.Pattern[str]:
        regex = "^" + re.escape(self.pattern) + "$"
        for name in self.fields:
            regex = regex.replace(re.escape("{" + name + "}"), f"(?P<{name}>[^#]*)", 1)
        return re.compile(regex)

    def build(self, **parts: object) -> str:
        for name in self.fields:
            value = str(parts[name])
            if name in self.ids:
                validate_id(value, name.replace("_", " "))
            elif not value or SEPARATOR in value:
                raise BadUserInput(f"Invalid {name.replace('_', ' ')}")
        return self.pattern.format(**parts)

    def prefix(self, **parts: object) -> str:
        """The constant text before the first part not given (for begins_with)."""
        out = ""
        for literal, name, _, _ in string.Formatter().parse(self.pattern):
            out += literal
            if not name:
                continue
            if name not in parts:
                return out
            out += str(parts[name])
        return out

    def parse(self, value: str) -> dict[str, str]:
        match = self._regex.match(value)
        if not match:
            raise ValueError(f"{value!r} does not match {self.pattern!r}")
        return match.groupdict()


@dataclass(frozen=True)
class Copy:
    """An index sort key that is an attribute's own value (LSI1's Number)."""

    field: str


@dataclass(frozen=True)
class Key:
    """The templates of one index key. `pk` is None for a local index, which
    shares the table's partition key."""

    pk: str | None
    sk: str | Copy


@dataclass(frozen=True)
class Derived:
    """A key part computed from attributes (and the key context, such as the
    number of status shards) rather than stored."""

    uses: tuple[str, ...]
    compute: Callable[[Mapping[str, Any], Mapping[str, Any]], object]


@dataclass(frozen=True)
class Change:
    """A partial update: attributes to set and to remove, the index keys they
    move included. `render` gives its UpdateExpression with placeholders of
    its own (#c0, :c0), so a caller's condition can add names and values."""

    sets: Mapping[str, Any]
    removes: tuple[str, ...] = ()

    def render(self) -> tuple[str, dict[str, str], dict[str, Any]]:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets: list[str] = []
        for n, (attribute, value) in enumerate(self.sets.items()):
            names[f"#c{n}"] = attribute
            values[f":c{n}"] = value
            sets.append(f"#c{n} = :c{n}")
        removes = []
        for n, attribute in enumerate(self.removes, start=len(self.sets)):
            names[f"#c{n}"] = attribute
            removes.append(f"#c{n}")
        clauses = []
        if sets:
            clauses.append("SET " + ", ".join(sets))
        if removes:
            clauses.append("REMOVE " + ", ".join(removes))
        return " ".join(clauses), names, values


@dataclass(frozen=True)
class Codec:
    """How one attribute is stored where its type alone does not say: `decode`
    gets the stored value and the fields decoded before it (in field order)."""

    decode: Callable[[Any, Mapping[str, Any]], Any]
    encode: Callable[[Any], Any]


# dataclasses.field(metadata=JSON): stored as a JSON string.
JSON = {"codec": Codec(lambda raw, _: json.loads(raw), json.dumps)}


@dataclass(frozen=True)
class _Field:
    name: str
    attribute: str
    decode: Callable[[Any, Mapping[str, Any]], Any]
    encode: Callable[[Any], Any]
    default: Any  # dataclasses.MISSING when the item must hold it


def _identity(value: Any) -> Any:
    return value


def _plain(decode: Callable[[Any], Any]) -> Callable[[Any, Mapping[str, Any]], Any]:
    return lambda raw, _: decode(raw)


def _is_optional(hint: Any) -> bool:
    union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    return union and type(None) in typing.get_args(hint)


def _codec_of(
    hint: Any, metadata: Mapping[str, Any]
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    if "codec" in metadata:
        codec: Codec = metadata["codec"]
        return codec.decode, codec.encode
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint, lambda member: member.value
    if hint is int:
        return int, _identity
    if hint is Decimal:
        return Decimal, _identity
    if hint is bool:
        return bool, _identity
    return _identity, _identity


class Entity(Generic[T]):
    """One entity's declaration: its dataclass, entity type, table key and
    index keys. `ids` name the parts that must be ids; `derived` parts are
    computed for keys only; `key_only` fields live in the table key alone and
    are parsed back from it; `defaults` fill attributes older items may lack."""

    def __init__(
        self,
        cls: type[T],
        name: str,
        *,
        table: Key,
        indexes: Mapping[Index, Key] | None = None,
        ids: tuple[str, ...] = (),
        derived: Mapping[str, Derived] | None = None,
        key_only: tuple[str, ...] = (),
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self.cls = cls
        self.name = name
        self.derived = dict(derived or {})
        self.key_only = frozenset(key_only)
        id_parts = frozenset(ids)
        hints = typing.get_type_hints(cls)
        self.fields: list[_Field] = []
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            decode, encode = _codec_of(hints[f.name], f.metadata)
            if "codec" not in f.metadata:
                decode = _plain(decode)
            default = (defaults or {}).get(f.name, f.default)
            if default is dataclasses.MISSING and _is_optional(hints[f.name]):
                default = None  # an optional attribute may be absent from the item
            self.fields.append(_Field(f.name, camel(f.name), decode, encode, default))
        self.keys: dict[Index, tuple[Template | None, Template | Copy]] = {}
        for index, key in {TABLE_INDEX: table, **(indexes or {})}.items():
            pk = Template(key.pk, id_parts) if key.pk is not None else None
            sk = Template(key.sk, id_parts) if isinstance(key.sk, str) else key.sk
            self.keys[index] = (pk, sk)
        self.table_pk, self.table_sk = self.keys[TABLE_INDEX]
        self._parts = {index: self._key_parts(index) for index in self.keys}
        assert isinstance(self.table_pk, Template) and isinstance(self.table_sk, Template)
        known = {f.name for f in self.fields} | set(self.derived)
        for pk, sk in self.keys.values():
            for template in (pk, sk):
                parts = template.fields if isinstance(template, Template) else ()
                missing = set(parts) - known
                assert not missing, f"{name}: key parts {missing} are not attributes"
        cls.entity = self  # type: ignore[attr-defined]

    # ---------------------------------------------------------------- keys

    def key(self, **parts: object) -> dict[str, str]:
        """The table key, from the parts its templates name."""
        return self.index_key(TABLE_INDEX, **parts)

    def index_key(self, index: Index, **parts: object) -> dict[str, Any]:
        pk, sk = self.keys[index]
        values = self._with_derived(parts, {}, self._parts_of(index))
        key: dict[str, Any] = {}
        if pk is not None:
            key[index.pk] = pk.build(**values)
        key[index.sk] = values[sk.field] if isinstance(sk, Copy) else sk.build(**values)
        return key

    def partition(self, index: Index = TABLE_INDEX, **parts: object) -> str:
        """The partition key value of one index, for a Query."""
        pk = self.keys[index][0] or self.table_pk
        assert pk is not None
        return pk.build(**parts)

    def sort_prefix(self, index: Index = TABLE_INDEX, **parts: object) -> str:
        """The constant start of the index's sort key, for begins_with."""
        sk = self.keys[index][1]
        assert isinstance(sk, Template)
        return sk.prefix(**parts)

    def sort_key(self, index: Index = TABLE_INDEX) -> Template | Copy:
        return self.keys[index][1]

    def _with_derived(
        self,
        values: Mapping[str, Any],
        context: Mapping[str, Any],
        needed: frozenset[str] | set[str] | None = None,
    ) -> dict[str, Any]:
        """The values with the derived parts (of `needed`, else all) computed."""
        out = dict(values)
        for part, rule in self.derived.items():
            if needed is not None and part not in needed:
                continue
            if part not in out and all(out.get(u) is not None for u in rule.uses):
                out[part] = rule.compute(out, context)
        return out

    def _index_attributes(self, index: Index, values: Mapping[str, Any]) -> dict[str, Any] | None:
        """The index's key attributes from these values; None where a part is
        absent (a sparse index leaves such an item out)."""
        pk, sk = self.keys[index]
        parts = [*(pk.fields if pk else ()), *(sk.fields if isinstance(sk, Template) else ())]
        if isinstance(sk, Copy):
            parts.append(sk.field)
        if any(values.get(p) is None for p in parts):
            return None
        out: dict[str, Any] = {}
        if pk is not None:
            out[index.pk] = pk.build(**values)
        out[index.sk] = values[sk.field] if isinstance(sk, Copy) else sk.build(**values)
        return out

    def _parts_of(self, index: Index) -> frozenset[str]:
        return self._parts[index]

    def _key_parts(self, index: Index) -> frozenset[str]:
        """The attributes an index key reads, the ones its derived parts use included."""
        pk, sk = self.keys[index]
        parts = set(pk.fields if pk else ())
        parts |= {sk.field} if isinstance(sk, Copy) else set(sk.fields)
        for part in list(parts):
            if part in self.derived:
                parts |= set(self.derived[part].uses)
        return frozenset(parts)

    # ---------------------------------------------------------------- items

    def values_of(self, obj: T) -> dict[str, Any]:
        return {f.name: getattr(obj, f.name) for f in self.fields}

    def item(self, obj: T, **context: Any) -> Item:
        """The whole item: every index key the values fill, the entity type, and
        each attribute that is not None."""
        values = self._with_derived(self.values_of(obj), context)
        item: Item = {}
        for index in self.keys:
            item.update(self._index_attributes(index, values) or {})
        item[ENTITY_TYPE] = self.name
        for f in self.fields:
            value = values[f.name]
            if value is not None and f.name not in self.key_only:
                item[f.attribute] = f.encode(value)
        return item

    def from_item(self, item: Mapping[str, Any]) -> T:
        from_key: dict[str, str] | None = None
        values: dict[str, Any] = {}
        for f in self.fields:
            raw = item.get(f.attribute)
            if raw is not None:
                values[f.name] = f.decode(raw, values)
            elif f.name in self.key_only:
                if from_key is None:
                    from_key = {
                        **self.table_pk.parse(item[TABLE_INDEX.pk]),  # type: ignore[union-attr]
                        **self.table_sk.parse(item[TABLE_INDEX.sk]),  # type: ignore[union-attr]
                    }
                values[f.name] = f.decode(from_key[f.name], values)
            elif f.default is not dataclasses.MISSING:
                values[f.name] = f.default
            else:
                raise KeyError(f"{self.name} item without {f.attribute}")
        return self.cls(**values)

    # ---------------------------------------------------------------- updates

    def change(
        self, changes: Mapping[str, Any], known: T | Mapping[str, Any], **context: Any
    ) -> Change:
        """A partial update of `changes` (field -> value, None removes), with
        every index key that reads a changed field rewritten from `known` (the
        object as read, or a mapping holding at least the other parts of those
        keys) or removed where a part becomes None."""
        by_name = {f.name: f for f in self.fields}
        unknown = set(changes) - set(by_name)
        assert not unknown, f"{self.name} has no attributes {unknown}"
        assert not set(changes) & self._parts_of(TABLE_INDEX), "a table key never changes"
        given = known if isinstance(known, Mapping) else self.values_of(known)
        affected = [
            index
            for index in self.keys
            if index is not TABLE_INDEX and set(changes) & self._parts_of(index)
        ]
        needed = set().union(*(self._parts_of(index) for index in affected))
        values = self._with_derived({**given, **changes}, context, needed)
        sets: dict[str, Any] = {}
        removes: list[str] = []
        for name, value in changes.items():
            if value is None:
                removes.append(by_name[name].attribute)
            else:
                sets[by_name[name].attribute] = by_name[name].encode(value)
        for index in affected:
            parts = self._parts_of(index)
            # A part not given is unknown, not absent: never drop an index for it.
            missing = parts - set(values)
            if missing:
                raise ValueError(f"rewriting {self.name}'s {index.name} key needs {missing}")
            attributes = self._index_attributes(index, values)
            if attributes is None:
                # A local index shares the table's partition key: only its sort key goes.
                removes.extend([index.sk] if self.keys[index][0] is None else [index.pk, index.sk])
            else:
                sets.update(attributes)
        return Change(sets, tuple(removes))

    def index_keys_of(self, item: Mapping[str, Any], **context: Any) -> dict[str, Any]:
        """The index key attributes this declaration gives the item's values:
        what a stored item must hold, for checking writes."""
        values = self._with_derived(self.values_of(self.from_item(item)), context)
        out: dict[str, Any] = {}
        for index in self.keys:
            out.update(self._index_attributes(index, values) or {})
        return out
