"""DynamoDB's item requests and responses, serialized and parsed once.

botocore parses a JSON response and then walks it against the operation's
output shape, value by value, to turn blobs and timestamps into bytes and
datetimes. For the item operations (reads, writes, transactions) the only
such values are binary attributes (`B`, `BS`): without them the walk returns
what the JSON already was, at a cost of several microseconds per attribute,
which on a page of 20 products is most of the call's CPU. So for those
outputs this parser returns orjson's parse as it is, and leaves every other
response, and any body that holds a binary attribute, to botocore.

The stream's GetRecords is parsed the same way: its records are item images,
and its one timestamp, `ApproximateCreationDateTime`, stays the epoch seconds
the JSON holds (botocore would make it a datetime); the stream consumer, which
reads every record of every change, takes either.

Requests are the same the other way: botocore walks the parameters against
the input shape before encoding them, to base64 the binary values (about
270 µs for a BatchGetItem of 80 keys, against 5 µs for orjson alone). For the
item operations a request without binary values is encoded by orjson as it
is; one with them goes to botocore.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiobotocore.parsers import PROTOCOL_PARSERS, AioJSONParser, AioResponseParserFactory
from botocore.serialize import JSONSerializer

# Outputs made only of AttributeValues, capacity, counts and keys.
ITEM_OUTPUTS = frozenset(
    {
        "GetItemOutput",
        "BatchGetItemOutput",
        "QueryOutput",
        "ScanOutput",
        "PutItemOutput",
        "UpdateItemOutput",
        "DeleteItemOutput",
        "BatchWriteItemOutput",
        "TransactWriteItemsOutput",
        "TransactGetItemsOutput",
        "GetRecordsOutput",  # DynamoDB Streams
    }
)
ITEM_INPUTS = frozenset(
    {
        "GetItemInput",
        "BatchGetItemInput",
        "QueryInput",
        "ScanInput",
        "PutItemInput",
        "UpdateItemInput",
        "DeleteItemInput",
        "BatchWriteItemInput",
        "TransactWriteItemsInput",
        "TransactGetItemsInput",
    }
)
# A binary attribute value, which botocore decodes from base64.
_BINARY = (b'"B":', b'"BS":')


class ItemResponseParser(AioJSONParser):
    async def _do_parse(self, response: dict[str, Any], shape: Any) -> Any:
        body = response["body"]
        if (
            shape is None
            or shape.name not in ITEM_OUTPUTS
            or not body
            or any(marker in body for marker in _BINARY)
        ):
            return await super()._do_parse(response, shape)
        parsed = orjson.loads(body)
        self._inject_response_metadata(parsed, response["headers"])
        return parsed


class ParserFactory(AioResponseParserFactory):
    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "json":
            return ItemResponseParser(**self._defaults)
        return PROTOCOL_PARSERS[protocol_name](**self._defaults)


class ItemRequestSerializer(JSONSerializer):
    """botocore's JSON serializer, but item requests without binary values
    are encoded by orjson as they are, without the walk over the input shape."""

    def serialize_to_request(self, parameters: Any, operation_model: Any) -> Any:
        shape = operation_model.input_shape
        if shape is None or shape.name not in ITEM_INPUTS:
            return super().serialize_to_request(parameters, operation_model)
        try:
            body = orjson.dumps(parameters)
        except TypeError:  # bytes, Binary: botocore encodes them
            return super().serialize_to_request(parameters, operation_model)
        if any(marker in body for marker in _BINARY):
            # Binary values given as text, which botocore would base64.
            return super().serialize_to_request(parameters, operation_model)
        # botocore's own request (method, target, content type) with this body.
        request = super().serialize_to_request({}, operation_model)
        request["body"] = body
        return request


def use_item_serializer(client: Any) -> None:
    """Has the client encode its item requests with ItemRequestSerializer (botocore
    takes no serializer factory as it takes a parser factory). A client that
    validates its parameters keeps its own serializer, which does that too."""
    if type(client._serializer) is JSONSerializer:
        client._serializer = ItemRequestSerializer()
