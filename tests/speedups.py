"""What the test harness changes for speed, none of which changes what is tested: each keeps a
library's results exactly and only stops it doing the same work again and again.

- One botocore data loader, and one set of client methods per service, for the whole process. The
  handler builds a boto3 session per invocation and one per assumed-role account, and each new session
  parsed botocore's JSON again (endpoints.json, partitions, every service model it makes a client of)
  and made each client method again. A Lambda container pays that once; a test process runs hundreds
  of invocations (the 1,000-source fan-out test thousands of sessions). Sharing is safe: botocore never
  changes a loaded model (one session already shares its models between its clients), and a client
  method is made from the service model alone. Each client class is still made per session from a
  copy of those methods, with the session's own `creating-client-class` handlers.
- moto's DynamoDB Query reads only the queried partition, and does not sort the table first. moto 5.2.5
  sorts the whole table on every Query (then keeps the items it matches and sorts those again), so a
  run that queries every source's items cost O(sources^2 log sources): 70% of the 1,000-source test's
  CPU. The result is the same items in the same order.
- moto's SQS reads a queue's retention period directly when it checks a message's age, and reads the
  clock once when it counts a queue's messages. moto 5.2.5 builds every queue attribute (counting the
  queue's messages three times, reading the clock twice per message) for each message it sends and
  each it receives, so filling and draining a queue cost O(messages^2) clock readings. A count at one
  instant is what each reading approximated.
- moto's EventBridge parses each of its template's JSONPaths once. moto 5.2.5 parses them for every
  event it delivers, building jsonpath_ng's parser tables each time; a parsed path is only read.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest.mock import patch

import botocore.client
import botocore.loaders
import botocore.session
import jsonpath_ng.ext
from moto.core.utils import unix_time, unix_time_millis
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table
from moto.sqs.models import Queue, SQSBackend


@contextmanager
def faster_libraries() -> Iterator[None]:
    """Within the block, every speed-up above is in place."""
    with ExitStack() as stack:
        for speedup in (
            _shared_botocore(),
            _partition_query(),
            _direct_retention(),
            _queue_counts(),
            _parsed_once(jsonpath_ng.ext, "parse"),
        ):
            stack.enter_context(speedup)
        yield


def _parsed_once(module: Any, name: str) -> Any:
    return patch.object(module, name, functools.lru_cache(maxsize=256)(vars(module)[name]))


@contextmanager
def _shared_botocore() -> Iterator[None]:
    loader = botocore.loaders.create_loader()
    make_methods = vars(botocore.client.ClientCreator)["_create_methods"]
    methods: dict[tuple[str, str], dict[str, Any]] = {}

    def register_data_loader(session: botocore.session.Session) -> None:
        session.register_component("data_loader", loader)

    def client_methods(creator: Any, service_model: Any) -> dict[str, Any]:
        key = (service_model.service_name, str(service_model.api_version))
        made = methods.get(key)
        if made is None:
            made = methods[key] = make_methods(creator, service_model)
        return dict(made)  # the class's attributes: the session's handlers may add to them

    with (
        patch.object(botocore.session.Session, "_register_data_loader", register_data_loader),
        patch.object(botocore.client.ClientCreator, "_create_methods", client_methods),
    ):
        yield


@contextmanager
def _partition_query() -> Iterator[None]:
    query, all_items = vars(Table)["query"], vars(Table)["all_items"]
    # The Query a moto server thread is serving: (table, hash key value, index name or None).
    serving = threading.local()

    def query_partition(table: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        serving.query = (table, hash_key, args[6] if len(args) > 6 else kwargs.get("index_name"))
        try:
            return query(table, hash_key, *args, **kwargs)
        finally:
            serving.query = None

    def items(table: Table) -> list[Any]:
        current = getattr(serving, "query", None)
        if current is None or current[0] is not table or current[1] is None:
            return list(all_items(table))
        # Query keeps the items it matches and sorts them itself (by the table's or the index's keys,
        # the table's primary key last: a total order): it needs them unsorted, and only those that
        # may match its hash key.
        _, hash_key, index_name = current
        if index_name is None:
            return _items_of(table.items.get(hash_key, {}))
        schema = table.get_index(index_name).schema
        hashes = [key["AttributeName"] for key in schema if key["KeyType"] == "HASH"]
        candidates = [item for partition in table.items.values() for item in _items_of(partition)]
        if len(hashes) != 1:
            return candidates
        return [i for i in candidates if (value := i.attrs.get(hashes[0])) is not None and value == hash_key]

    with patch.object(Table, "query", query_partition), patch.object(Table, "all_items", items):
        yield


def _items_of(partition: Any) -> list[Any]:
    """The items of one hash key: one item (a table without a sort key) or a dict of them."""
    return [partition] if isinstance(partition, Item) else list(partition.values())


@contextmanager
def _direct_retention() -> Iterator[None]:
    def retained(backend: SQSBackend, queue_name: str, message: Any) -> bool:
        retention = int(vars(backend.get_queue(queue_name))["message_retention_period"])
        return bool(retention + message.sent_timestamp / 1000 > unix_time())

    with patch.object(SQSBackend, "is_message_valid_based_on_retention_period", retained):
        yield


@contextmanager
def _queue_counts() -> Iterator[None]:
    # Message.visible is `now > visible_at`, Message.delayed `now < delayed_until`, each reading now.
    def messages(queue: Queue) -> list[Any]:
        now = unix_time_millis()
        return [m for m in queue._messages if now > m.visible_at and not now < m.delayed_until]

    def delayed(queue: Queue) -> int:
        now = unix_time_millis()
        return sum(1 for m in queue._messages if now < m.delayed_until)

    def not_visible(queue: Queue) -> int:
        now = unix_time_millis()
        return sum(1 for m in queue._messages if not now > m.visible_at)

    with (
        patch.object(Queue, "messages", property(messages)),
        patch.object(Queue, "approximate_number_of_messages_delayed", property(delayed)),
        patch.object(Queue, "approximate_number_of_messages_not_visible", property(not_visible)),
    ):
        yield
