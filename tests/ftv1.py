"""Decoding an ftv1 trace, as a gateway does, without the encoder under test.

The messages and field numbers are those of Apollo's reports.proto (the
`Trace` message of @apollo/usage-reporting-protobuf), the part a subgraph
fills in: the tree of fields with their timings and errors.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    timestamp_pb2,
)

F = descriptor_pb2.FieldDescriptorProto
OPTIONAL, REPEATED = F.LABEL_OPTIONAL, F.LABEL_REPEATED


def _field(name: str, number: int, kind: int, label: int = OPTIONAL, of: str = "") -> F:
    field = F(name=name, number=number, type=kind, label=label)
    if of:
        field.type_name = of
    return field


def _trace_class() -> Any:
    file = descriptor_pb2.FileDescriptorProto(
        name="shopgraph_tests_ftv1.proto",
        package="ftv1",
        syntax="proto3",
        dependency=["google/protobuf/timestamp.proto"],
    )
    trace = file.message_type.add(name="Trace")
    trace.field.extend(
        [
            _field("end_time", 3, F.TYPE_MESSAGE, of=".google.protobuf.Timestamp"),
            _field("start_time", 4, F.TYPE_MESSAGE, of=".google.protobuf.Timestamp"),
            _field("duration_ns", 11, F.TYPE_UINT64),
            _field("root", 14, F.TYPE_MESSAGE, of=".ftv1.Trace.Node"),
        ]
    )
    location = trace.nested_type.add(name="Location")
    location.field.extend([_field("line", 1, F.TYPE_UINT32), _field("column", 2, F.TYPE_UINT32)])
    error = trace.nested_type.add(name="Error")
    error.field.extend(
        [
            _field("message", 1, F.TYPE_STRING),
            _field("location", 2, F.TYPE_MESSAGE, REPEATED, ".ftv1.Trace.Location"),
            _field("json", 4, F.TYPE_STRING),
        ]
    )
    node = trace.nested_type.add(name="Node")
    node.field.extend(
        [
            _field("response_name", 1, F.TYPE_STRING),
            _field("index", 2, F.TYPE_UINT32),
            _field("type", 3, F.TYPE_STRING),
            _field("start_time", 8, F.TYPE_UINT64),
            _field("end_time", 9, F.TYPE_UINT64),
            _field("error", 11, F.TYPE_MESSAGE, REPEATED, ".ftv1.Trace.Error"),
            _field("child", 12, F.TYPE_MESSAGE, REPEATED, ".ftv1.Trace.Node"),
            _field("parent_type", 13, F.TYPE_STRING),
        ]
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(descriptor_pb2.FileDescriptorProto.FromString(timestamp_pb2.DESCRIPTOR.serialized_pb))
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("ftv1.Trace"))


Trace = _trace_class()


def decode(ftv1: str) -> Any:
    trace = Trace()
    trace.ParseFromString(base64.b64decode(ftv1))
    return trace


def fields(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted response path, node) for every node under node."""
    for child in node.child:
        key = child.response_name or str(child.index)
        here = f"{path}.{key}" if path else key
        yield here, child
        yield from fields(child, here)
