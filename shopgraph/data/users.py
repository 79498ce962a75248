"""Users and their unique emails."""

from __future__ import annotations

from botocore.exceptions import ClientError

from shopgraph.data import keys
from shopgraph.data.codec import from_attributes, to_attributes
from shopgraph.data.dynamo import Dynamo
from shopgraph.data.entities import User, email_guard_item
from shopgraph.data.table import GSI1
from shopgraph.errors import EmailTaken

_NEW_ITEM = "attribute_not_exists(PK)"


async def create_user(db: Dynamo, user: User) -> None:
    """The user and its email guard in one transaction: a GSI cannot enforce
    uniqueness, a conditional put of the guard can."""
    try:
        await db.transact_write(
            [
                {
                    "Put": {
                        "TableName": db.table_name,
                        "Item": to_attributes(email_guard_item(user.email, user.id)),
                        "ConditionExpression": _NEW_ITEM,
                    }
                },
                {
                    "Put": {
                        "TableName": db.table_name,
                        "Item": to_attributes(user.to_item()),
                        "ConditionExpression": _NEW_ITEM,
                    }
                },
            ]
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "TransactionCanceledException":
            reasons = exc.response.get("CancellationReasons") or []
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                raise EmailTaken("An account with this email already exists") from exc
        raise


async def user_by_email(db: Dynamo, email: str) -> User | None:
    index_key = keys.USER.gsi1(email=email)
    response = await db.query(
        IndexName=GSI1.name,
        KeyConditionExpression="GSI1PK = :pk AND GSI1SK = :sk",
        ExpressionAttributeValues={
            ":pk": {"S": index_key["GSI1PK"]},
            ":sk": {"S": index_key["GSI1SK"]},
        },
        Limit=1,
    )
    items = response.get("Items") or []
    return User.from_item(from_attributes(items[0])) if items else None
