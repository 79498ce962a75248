"""Users and their unique emails."""

from __future__ import annotations

from shopgraph.data import entities
from shopgraph.data.codec import from_attributes
from shopgraph.data.dynamo import Dynamo
from shopgraph.data.entities import EmailGuard, User
from shopgraph.data.table import GSI1
from shopgraph.data.transactions import Cancelled, Transaction, transact
from shopgraph.errors import EmailTaken

_NEW_ITEM = "attribute_not_exists(PK)"


async def create_user(db: Dynamo, user: User) -> None:
    """The user and its email guard in one transaction: a GSI cannot enforce
    uniqueness, a conditional put of the guard can."""
    tx = Transaction(db.table_name)
    tx.put("email", EmailGuard(user.email, user.id).to_item(), _NEW_ITEM)
    tx.put("user", user.to_item(), _NEW_ITEM)
    try:
        await transact(db, tx)
    except Cancelled as cancelled:
        if cancelled.failed("email"):
            raise EmailTaken("An account with this email already exists") from None
        raise


async def user_by_email(db: Dynamo, email: str) -> User | None:
    index_key = entities.USER.index_key(GSI1, email=email)
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
