"""Scaled out: serve processes that read change events from Redis, stream
workers that share the table's stream by lease and publish to it, and
subscribers that keep every change they may see, once and in order, through
a worker killed, a serve process killed and Redis restarted."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from shopgraph.data import entities
from shopgraph.data.dynamo import Dynamo
from shopgraph.engine.process import free_port
from shopgraph.stream.events import decode
from shopgraph.stream.records import status_change
from shopgraph.stream.redis_changes import RedisPublisher
from tests.redis_server import RedisServer
from tests.scaled import (
    WORKER_LINE,
    LiveSubscriber,
    Process,
    Server,
    all_subscribed,
    eventually,
    graphql,
    shopgraph_env,
)

LEASE_SECONDS = 2.0
ADMIN = "admin@example.com"
SIGN_UP = (
    'mutation($e: String!) { signUp(input: {email: $e, name: "N", password: "long-enough"}) '
    "{ token user { id } } }"
)
PRODUCT = (
    'mutation { createProduct(input: {id: "lamp", name: "Lamp", category: "home", '
    'price: "30.00"}) { id } }'
)
PLACE = 'mutation { placeOrder(input: {items: [{productId: "lamp", quantity: 1}]}) { id } }'
MOVE = "mutation($id: ID!, $s: OrderStatus!) { updateOrderStatus(id: $id, status: $s) { status } }"
LIFECYCLE = ("PAID", "SHIPPED", "COMPLETED")
SALES = "query($d: String!) { salesStats(day: $d) { completedOrders } }"


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.close()


@dataclass
class Shop:
    """Who acts, through which servers."""

    servers: list[Server]
    session: aiohttp.ClientSession
    admin: str
    customers: list[tuple[str, str]]  # (token, user id)

    def base(self, n: int) -> str:
        alive = [s for s in self.servers if s.alive]
        return alive[n % len(alive)].base


@dataclass
class Changes:
    """What a burst changed: each order's statuses in the order they were set."""

    by_order: dict[str, list[str]]
    owner: dict[str, str]  # order id -> user id

    def seen_by(self, subscriber: LiveSubscriber, user: str | None) -> set[tuple[str, str]]:
        return {
            (order, status)
            for order, statuses in self.by_order.items()
            if (user is None or self.owner[order] == user)
            and (subscriber.order_id is None or subscriber.order_id == order)
            for status in statuses
        }


def _env(endpoint: str, table: str, redis_url: str) -> dict[str, str]:
    return shopgraph_env(
        AWS_ENDPOINT_URL_DYNAMODB=endpoint,
        SHOPGRAPH_TABLE=table,
        SHOPGRAPH_SECRET="shared-secret",
        SHOPGRAPH_ADMIN_EMAILS=ADMIN,
        SHOPGRAPH_REDIS_URL=redis_url,
        SHOPGRAPH_STREAM_LEASE_SECONDS=str(LEASE_SECONDS),
        # The bursts meet a 2-core machine running all of it.
        SHOPGRAPH_ADMISSION_QUEUE_TIMEOUT="30",
        SHOPGRAPH_REQUEST_DEADLINE="60",
    )


@asynccontextmanager
async def _running(processes: list[Process]) -> AsyncIterator[list[Process]]:
    try:
        yield processes
    finally:
        for process in processes:
            if process.alive:
                process.process.kill()
            await process.process.wait()


async def _shop(servers: list[Server], session: aiohttp.ClientSession, customers: int) -> Shop:
    base = servers[0].base
    admin = (await graphql(session, base, SIGN_UP, {"e": ADMIN}))["signUp"]["token"]
    signed = []
    for n in range(customers):
        up = (await graphql(session, base, SIGN_UP, {"e": f"c{n}@example.com"}))["signUp"]
        signed.append((up["token"], up["user"]["id"]))
    await graphql(session, base, PRODUCT, token=admin)
    return Shop(servers, session, admin, signed)


async def _burst(
    shop: Shop, orders: int, *, at_once: int = 10, after: Any = None, every: int = 0
) -> Changes:
    """`orders` orders placed and moved to COMPLETED (4 changes each), `at_once`
    orders at a time, spread over the servers; `after(n)` is awaited once
    `every` changes have been made."""
    changes = Changes({}, {})
    counter = itertools.count(1)
    slots = asyncio.Semaphore(at_once)

    async def one(n: int) -> None:
        token, user = shop.customers[n % len(shop.customers)]
        async with slots:
            placed = await graphql(shop.session, shop.base(n), PLACE, token=token)
            order = placed["placeOrder"]["id"]
            changes.owner[order] = user
            changes.by_order[order] = ["PENDING"]
            await made()
            for step, status in enumerate(LIFECYCLE):
                variables = {"id": order, "s": status}
                await graphql(shop.session, shop.base(n + step + 1), MOVE, variables, shop.admin)
                changes.by_order[order].append(status)
                await made()

    async def made() -> None:
        if after is not None and every and next(counter) == every:
            await after()

    await asyncio.gather(*(one(n) for n in range(orders)))
    return changes


async def _fed(servers: list[Server], session: aiohttp.ClientSession, count: int) -> None:
    """Waits until every server has read `count` change events from Redis."""

    async def read_by_all() -> bool:
        for server in servers:
            async with session.get(f"{server.base}/readyz") as response:
                if (await response.json())["stream"]["events"] < count:
                    return False
        return True

    assert await eventually(read_by_all, within=30, step=0.2)


async def _delivered(
    subscribers: list[tuple[LiveSubscriber, str | None]], changes: list[Changes], within: float
) -> None:
    """Waits until every subscriber has all it may see, then checks it got
    exactly that: each change once, and each order's changes in order."""

    def expected(subscriber: LiveSubscriber, user: str | None) -> set[tuple[str, str]]:
        return set().union(*(c.seen_by(subscriber, user) for c in changes))

    await eventually(
        lambda: all(len(s.events) >= len(expected(s, u)) for s, u in subscribers), within, 0.2
    )
    await asyncio.sleep(1.0)  # anything extra (a duplicate) would arrive now
    orders: dict[str, list[str]] = {}
    for c in changes:
        orders.update(c.by_order)
    for subscriber, user in subscribers:
        got = [(e.order_id, e.status) for e in subscriber.events]
        want = expected(subscriber, user)
        assert not subscriber.errors, (subscriber.name, subscriber.errors)
        assert len(got) == len(set(got)), f"{subscriber.name} got a change twice"
        assert len({e.event_id for e in subscriber.events}) == len(got)
        assert set(got) == want, (
            f"{subscriber.name}: missing {sorted(want - set(got))[:5]}, "
            f"not its own {sorted(set(got) - want)[:5]}"
        )
        for order in {o for o, _ in got}:
            statuses = [s for o, s in got if o == order]
            assert statuses == [s for s in orders[order] if (order, s) in want], (
                f"{subscriber.name}: {order} out of order: {statuses}"
            )


async def _lease_owner(db: Dynamo) -> str | None:
    items = await db.query_all(
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={
            ":pk": {"S": entities.SHARD_LEASE.partition(consumer="sales-stats")}
        },
        ConsistentRead=True,
    )
    owners = [
        i.get("owner")
        for i in items
        if i.get("entityType") == entities.SHARD_LEASE.name and not i.get("finished")
    ]
    return str(owners[0]) if owners and owners[0] else None


async def test_four_servers_two_workers_forty_subscribers(
    dynamo_endpoint: str, table: str, db: Dynamo, redis_server: RedisServer
) -> None:
    env = _env(dynamo_endpoint, table, redis_server.url)
    async with aiohttp.ClientSession() as session:
        workers = [await Process.start(f"worker {n}", "stream-worker", env=env) for n in range(2)]
        servers = [await Server.serve(f"serve {n}", env=env) for n in range(4)]
        async with _running([*workers, *servers]):
            worker_ids = [(await w.wait_for_line(WORKER_LINE))["id"] for w in workers]
            for server in servers:
                await server.ready(session)
            shop = await _shop(servers, session, customers=10)
            # Orders to follow one by one, placed before anyone subscribes.
            followed: list[tuple[str, str, str]] = []
            for token, user in shop.customers[:4]:
                placed = await graphql(session, servers[0].base, PLACE, token=token)
                followed.append((token, user, placed["placeOrder"]["id"]))
            # Through the feed before anyone subscribes: not news to them.
            await _fed(servers, session, len(followed))

            subscribers: list[tuple[LiveSubscriber, str | None]] = []
            homes = itertools.cycle(range(len(servers)))
            for n, (token, user) in enumerate(shop.customers * 3):
                sub = LiveSubscriber(f"customer {n % 10} #{n // 10}", token, servers, next(homes))
                subscribers.append((sub, user))
            for n in range(6):
                subscribers.append(
                    (LiveSubscriber(f"admin #{n}", shop.admin, servers, next(homes)), None)
                )
            for token, user, order in followed:
                sub = LiveSubscriber(f"order of {user}", token, servers, next(homes), order)
                subscribers.append((sub, user))
            assert len(subscribers) == 40
            tasks = [asyncio.create_task(s.run()) for s, _ in subscribers]
            await all_subscribed([s for s, _ in subscribers])

            # 1. 200 changes: the followed orders' lifecycles and 47 orders more.
            first = await _burst(shop, 47)
            for _, _, order in followed:
                for status in LIFECYCLE:
                    moved_to = {"id": order, "s": status}
                    await graphql(session, servers[1].base, MOVE, moved_to, shop.admin)
            owners = {order: user for _, user, order in followed}
            first.by_order.update({order: list(LIFECYCLE) for order in owners})
            first.owner.update(owners)
            assert sum(len(s) for s in first.by_order.values()) == 47 * 4 + 4 * 3 == 200
            await _delivered(subscribers, [first], within=60)

            # 2. The worker reading the shard is killed a quarter into 200 changes.
            holder = await _lease_owner(db)
            assert holder in worker_ids, (holder, worker_ids)
            victim = workers[worker_ids.index(holder)]

            async def kill_worker() -> None:
                victim.process.send_signal(signal.SIGKILL)

            second = await _burst(shop, 50, after=kill_worker, every=50)
            await _delivered(subscribers, [first, second], within=60 + LEASE_SECONDS * 3)
            survivor = worker_ids[1 - worker_ids.index(holder)]
            assert await _lease_owner(db) == survivor

            # 3. A serve process is killed, and changes are made before its
            # subscribers are back: they resume on another, after their cursor.
            moved = [s for s, _ in subscribers if s.home == 1]
            assert len(moved) == 10
            for subscriber in moved:
                subscriber.may_reconnect.clear()
            servers[1].process.send_signal(signal.SIGKILL)
            await servers[1].process.wait()
            third = await _burst(shop, 10, at_once=5)
            for subscriber in moved:
                subscriber.may_reconnect.set()
            await _delivered(subscribers, [first, second, third], within=60)
            assert all(s.moves >= 1 and s.home != 1 for s in moved)

            # Each completed order counted once, across the worker killed.
            day = time.strftime("%Y-%m-%d", time.gmtime())
            stats = await graphql(session, servers[0].base, SALES, {"d": day}, shop.admin)
            completed = sum(
                "COMPLETED" in statuses
                for burst in (first, second, third)
                for statuses in burst.by_order.values()
            )
            assert stats["salesStats"]["completedOrders"] == completed
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_redis_restarted_during_a_burst(
    dynamo_endpoint: str, table: str, redis_server: RedisServer
) -> None:
    """Events published while Redis was gone (the worker holds them) and those
    it kept on disk reach every subscriber once; nothing hangs."""
    env = _env(dynamo_endpoint, table, redis_server.url)
    async with aiohttp.ClientSession() as session:
        worker = await Process.start("worker", "stream-worker", env=env)
        servers = [await Server.serve(f"serve {n}", env=env) for n in range(2)]
        async with _running([worker, *servers]):
            await worker.wait_for_line(WORKER_LINE)
            for server in servers:
                await server.ready(session)
            shop = await _shop(servers, session, customers=4)
            subscribers = [
                (LiveSubscriber(f"admin #{n}", shop.admin, servers, n % 2), None) for n in range(4)
            ]
            tasks = [asyncio.create_task(s.run()) for s, _ in subscribers]
            await all_subscribed([s for s, _ in subscribers])

            async def restart_redis() -> None:
                await asyncio.to_thread(redis_server.stop, kill=True)
                await asyncio.sleep(2)  # changes made meanwhile wait in the worker
                await asyncio.to_thread(redis_server.start)

            started = time.monotonic()
            burst = await _burst(shop, 20, at_once=4, after=restart_redis, every=30)
            await _delivered(subscribers, [burst], within=60)
            assert time.monotonic() - started < 90
            for server in servers:
                async with session.get(f"{server.base}/readyz") as response:
                    assert (await response.json())["stream"]["connected"] is True
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def test_redis_that_lost_its_data_ends_subscriptions_with_a_clear_error(
    dynamo_endpoint: str, table: str
) -> None:
    """A Redis restarted without its data may have lost changes not yet read:
    subscribers are told so (UNAVAILABLE) instead of silently missing them."""
    redis_server = RedisServer(durable=False)
    redis_server.start()
    env = _env(dynamo_endpoint, table, redis_server.url)
    try:
        async with aiohttp.ClientSession() as session:
            worker = await Process.start("worker", "stream-worker", env=env)
            server = await Server.serve("serve", env=env)
            async with _running([worker, server]):
                await worker.wait_for_line(WORKER_LINE)
                await server.ready(session)
                shop = await _shop([server], session, customers=1)
                subscriber = LiveSubscriber("admin", shop.admin, [server], 0)
                task = asyncio.create_task(subscriber.run())
                await asyncio.wait_for(subscriber.subscribed.wait(), 30)
                await asyncio.sleep(1.0)
                await _burst(shop, 1)
                await eventually(lambda: len(subscriber.events) >= 4, within=30)
                assert len(subscriber.events) == 4
                await asyncio.to_thread(redis_server.stop, kill=True)
                await asyncio.to_thread(redis_server.start)
                await asyncio.wait_for(task, 30)  # the subscription ends
                (ending,) = subscriber.errors
                assert [e["extensions"]["code"] for e in ending] == ["UNAVAILABLE"], ending
                assert "may have been missed" in ending[0]["message"]
    finally:
        redis_server.close()


async def test_a_record_read_again_is_published_once(
    dynamo_endpoint: str, table: str, redis_server: RedisServer, db: Dynamo
) -> None:
    """A record read twice (by two readers while a lease moves, or again after
    a takeover) is one event; an older record of a shard after a newer one is
    not published out of order."""
    record = {
        "eventID": "e-1",
        "dynamodb": {
            "SequenceNumber": "000000000000000000042",
            "NewImage": {
                "entityType": {"S": "Order"},
                "userId": {"S": "u1"},
                "number": {"S": "N1"},
                "status": {"S": "PAID"},
                "total": {"N": "12.50"},
                "createdAt": {"S": "2026-12-01T10:00:00.000Z"},
            },
            "OldImage": {"status": {"S": "PENDING"}},
        },
    }
    change = status_change(record, "shard-1")
    assert change is not None
    client = aioredis.from_url(redis_server.url, decode_responses=True)
    try:
        publisher = RedisPublisher(client, "changes", maxlen=1000)
        first = await publisher.publish(change)
        assert first is not None
        assert await publisher.publish(change) is None
        older = status_change(
            {
                **record,
                "eventID": "e-0",
                "dynamodb": {**record["dynamodb"], "SequenceNumber": "41"},
            },
            "shard-1",
        )
        assert older is not None and await publisher.publish(older) is None
        other_shard = status_change({**record, "eventID": "e-2"}, "shard-2")
        assert other_shard is not None and await publisher.publish(other_shard) is not None
        entries = await client.xrange("changes")
        assert [fields["id"] for _, fields in entries] == ["e-1", "e-2"]
        read = decode(entries[0][1], entries[0][0])
        assert (read.order.number, read.order.status.value, read.previous_status) == (
            "N1",
            "PAID",
            change.previous_status,
        )
        assert read.order.total == change.order.total
    finally:
        await client.aclose()


async def test_stream_workers_share_the_shards_and_take_over(
    dynamo_endpoint: str, table: str, db: Dynamo, redis_server: RedisServer
) -> None:
    """One worker reads the (one) shard; a worker stopped politely hands its
    lease over at once, a worker killed within the lease time and a round."""
    env = _env(dynamo_endpoint, table, redis_server.url)
    first = await Process.start("worker 1", "stream-worker", env=env)
    second = await Process.start("worker 2", "stream-worker", env=env)
    async with _running([first, second]):
        ids = [(await w.wait_for_line(WORKER_LINE))["id"] for w in (first, second)]
        await eventually(lambda: _lease_owner(db), within=20, step=0.2)
        holder = await _lease_owner(db)
        assert holder in ids
        holding, standby = (first, second) if holder == ids[0] else (second, first)

        assert await holding.stop(signal.SIGTERM) == 0
        stopped = time.monotonic()
        taken = await _wait_for_owner(db, ids[1 - ids.index(holder)], within=LEASE_SECONDS * 3)
        # Given back: taken at the standby's next round, not after the lease time.
        assert taken - stopped < LEASE_SECONDS / 3 + 1.0, taken - stopped

        third = await Process.start("worker 3", "stream-worker", env=env)
        async with _running([third]):
            third_id = (await third.wait_for_line(WORKER_LINE))["id"]
            killed = time.monotonic()
            standby.process.send_signal(signal.SIGKILL)
            taken = await _wait_for_owner(db, third_id, within=LEASE_SECONDS * 4 + 5)
            # Within the lease time, a round to notice, and a round to take it.
            assert taken - killed < LEASE_SECONDS * (1 + 2 / 3) + 1.5, taken - killed
            assert re.search(r"took shard \S+ over from", third.output)


async def _wait_for_owner(db: Dynamo, owner: str, within: float) -> float:
    async def taken() -> bool:
        return await _lease_owner(db) == owner

    assert await eventually(taken, within), f"{owner} did not take the lease within {within} s"
    return time.monotonic()


async def _pids_answering(base: str, expected: int = 2, within: float = 30) -> set[int]:
    """The PIDs that answer /healthz over fresh connections (the kernel picks
    a process for each), asked until `expected` answered or `within` seconds
    passed: the children start one after the other."""
    pids: set[int] = set()
    deadline = time.monotonic() + within
    while len(pids) < expected and time.monotonic() < deadline:
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session,
            session.get(f"{base}/healthz") as response,
        ):
            pids.add((await response.json())["pid"])
    return pids


async def test_serve_workers_share_one_port(
    dynamo_endpoint: str, table: str, redis_server: RedisServer
) -> None:
    """`serve --workers 2`: two processes answer on one port, each delivers
    subscriptions (through Redis, from the parent's stream worker), a child
    killed is started again, and SIGTERM stops them all."""
    env = _env(dynamo_endpoint, table, redis_server.url)
    async with aiohttp.ClientSession() as session:
        server: Server = await Server.start(
            "serve --workers 2", "serve", "--workers", "2", env=env, port=free_port()
        )
        async with _running([server]):
            await server.ready(session)
            await server.wait_for_line(WORKER_LINE)
            children = await _pids_answering(server.base)
            assert len(children) == 2 and server.process.pid not in children, children

            shop = await _shop([server], session, customers=2)
            subscribers = [
                (LiveSubscriber(f"admin #{n}", shop.admin, [server], 0), None) for n in range(8)
            ]
            tasks = [asyncio.create_task(s.run()) for s, _ in subscribers]
            await all_subscribed([s for s, _ in subscribers])
            first = await _burst(shop, 2)
            await _delivered(subscribers, [first], within=30)

            killed = min(children)
            os.kill(killed, signal.SIGKILL)
            assert await eventually(
                lambda: "exited with -9; starting it again" in server.output, within=10
            )

            answering: set[int] = set()

            async def replaced() -> bool:
                answering.clear()
                answering.update(await _pids_answering(server.base, within=5))
                return killed not in answering and len(answering) == 2

            assert await eventually(replaced, within=30, step=0.5)
            second = await _burst(shop, 2)
            await _delivered(subscribers, [first, second], within=30)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

            assert await server.stop(signal.SIGTERM) == 0
        # The children went with it, the one started again included.
        assert answering - children
        for pid in answering:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


async def test_serve_workers_need_redis(dynamo_endpoint: str, table: str) -> None:
    env = _env(dynamo_endpoint, table, "")
    started = await Process.start("serve --workers 3", "serve", "--workers", "3", env=env)
    code = await asyncio.wait_for(started.process.wait(), 30)
    await started.stop()
    assert code == 2, started.output
    assert "needs Redis" in started.output and "SHOPGRAPH_REDIS_URL" in started.output
    assert "Traceback" not in started.output
