"""The SQS service: queues in memory (services/sqs_queue.py) over a durable SQLite log
(store/sqs.py). Operations take and return the JSON protocol's shapes; the API adapter
also serves the query protocol from the same handlers.

Also the QueueSink / QueueConsumer of services/contracts.py (SNS, destinations, S3
notifications and event source mappings use those).
"""

from __future__ import annotations

import base64
import logging
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import orjson

from nimbus.errors import (
    PurgeQueueInProgress,
    QueueDoesNotExist,
    QueueNameExists,
    SqsInvalidAttributeName,
    SqsInvalidParameterValue,
    SqsMissingParameter,
)
from nimbus.services import sqs_attrs
from nimbus.services.sqs_interfaces import QueueInterfaces
from nimbus.services.sqs_queue import Message, Queue
from nimbus.services.sqs_send import now
from nimbus.store.sqs import QueueRow, SqsStore

log = logging.getLogger("nimbus.sqs")


class SqsService(QueueInterfaces):
    def __init__(self, store: SqsStore, endpoint_url: str, region: str) -> None:
        self.store = store
        self.endpoint = endpoint_url.rstrip("/")
        self.region = region
        self.queues: dict[tuple[str, str], Queue] = {}
        self.closing = False  # long polls return at once

    # lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Reload every queue and message; messages that were in flight are visible again."""
        queues, messages = await self.store.load()
        by_qid: dict[str, Queue] = {}
        for q in queues:
            queue = Queue(
                q.qid, q.account_id, q.name, self._arn(q.account_id, q.name),
                orjson.loads(q.attributes), orjson.loads(q.tags), q.created, q.modified,
            )  # fmt: skip
            self.queues[(q.account_id, q.name)] = queue
            by_qid[q.qid] = queue
        at = now()
        for m in messages:
            owner = by_qid.get(m.qid)
            if owner is not None:
                self.restore(owner, m, at)
        await self.store.start()
        log.info("SQS: %d queues, %d messages", len(queues), len(messages))

    async def close(self) -> None:
        self.closing = True
        for queue in self.queues.values():
            queue.changed.set()  # long polls end
        await self.store.close()

    # naming ---------------------------------------------------------------------------
    def _arn(self, account: str, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{account}:{name}"

    def url(self, queue: Queue) -> str:
        return f"{self.endpoint}/{queue.account}/{queue.name}"

    def queue_by_url(self, url: Any) -> Queue:
        if not isinstance(url, str) or not url:
            raise SqsMissingParameter("The request must contain the parameter QueueUrl.")
        parts = urlsplit(url).path.strip("/").split("/") if "://" in url else url.split("/")
        if len(parts) == 2:
            queue = self.queues.get((parts[0], parts[1]))
            if queue is not None:
                return queue
        raise QueueDoesNotExist()

    def queue_by_arn(self, arn: str) -> Queue:
        parsed = sqs_attrs.parse_arn(arn)
        queue = self.queues.get((parsed[1], parsed[2])) if parsed else None
        if queue is None:
            raise QueueDoesNotExist()
        return queue

    # queues ---------------------------------------------------------------------------
    async def create_queue(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("QueueName")
        if not isinstance(name, str):
            raise SqsMissingParameter("The request must contain the parameter QueueName.")
        given = params.get("Attributes") or {}
        fifo = name.endswith(".fifo") or str(given.get("FifoQueue", "")).lower() == "true"
        sqs_attrs.check_queue_name(name, fifo)
        attributes = sqs_attrs.normalize(given, fifo, creating=True)
        self._check_redrive(account, attributes, fifo)
        existing = self.queues.get((account, name))
        if existing is not None:
            for key, value in attributes.items():
                if existing.attributes.get(key, sqs_attrs.DEFAULTS.get(key)) != value:
                    raise QueueNameExists(
                        "A queue already exists with the same name and a different value for "
                        f"attribute {key}"
                    )
            return {"QueueUrl": self.url(existing)}
        created = time.time()
        queue = Queue(
            uuid.uuid4().hex, account, name, self._arn(account, name),
            sqs_attrs.with_defaults(attributes, fifo), dict(params.get("tags") or {}),
            created, created,
        )  # fmt: skip
        self.queues[(account, name)] = queue  # before the await: a concurrent create sees it
        try:
            await self.store.create_queue(
                QueueRow(
                    queue.qid,
                    account,
                    name,
                    orjson.dumps(queue.attributes).decode(),
                    orjson.dumps(queue.tags).decode(),
                    created,
                    created,
                )
            )
        except Exception:
            self.queues.pop((account, name), None)
            raise
        return {"QueueUrl": self.url(queue)}

    def _check_redrive(self, account: str, attributes: dict[str, str], fifo: bool) -> None:
        target = sqs_attrs.redrive_target(attributes)
        if target is None:
            return
        parsed = sqs_attrs.parse_arn(target[0])
        dlq = self.queues.get((parsed[1], parsed[2])) if parsed else None
        reason = None
        if dlq is None:
            reason = "Dead letter target does not exist."
        elif dlq.fifo != fifo:
            reason = "Dead-letter queue must be same type of queue as the source."
        if reason:
            raise SqsInvalidParameterValue(
                f"Value {attributes['RedrivePolicy']} for parameter RedrivePolicy is invalid. "
                f"Reason: {reason}"
            )

    async def get_queue_url(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        owner = params.get("QueueOwnerAWSAccountId") or account
        queue = self.queues.get((owner, params.get("QueueName") or ""))
        if queue is None:
            raise QueueDoesNotExist()
        return {"QueueUrl": self.url(queue)}

    async def list_queues(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        prefix = params.get("QueueNamePrefix") or ""
        limit = params.get("MaxResults")
        if limit is not None and not (isinstance(limit, int) and 1 <= limit <= 1000):
            raise SqsInvalidParameterValue(
                f"Value {limit} for parameter MaxResults is invalid. Reason: MaxResults must be "
                "an integer between 1 and 1000."
            )
        names = sorted(n for a, n in self.queues if a == account and n.startswith(prefix))
        token = params.get("NextToken")
        if token:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except ValueError:
                raise SqsInvalidParameterValue("Invalid NextToken value.") from None
            names = [n for n in names if n > after]
        out: dict[str, Any] = {}
        page = names[:limit] if limit else names[:1000]
        if page:
            out["QueueUrls"] = [self.url(self.queues[(account, n)]) for n in page]
        if limit and len(names) > limit:
            out["NextToken"] = base64.urlsafe_b64encode(page[-1].encode()).decode()
        return out

    async def get_queue_attributes(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_by_url(params.get("QueueUrl"))
        names = params.get("AttributeNames") or []
        known = set(sqs_attrs.RANGES) | sqs_attrs.OTHER | set(sqs_attrs.COMPUTED)
        known |= {"FifoQueue"} | sqs_attrs.FIFO_ONLY
        for name in names:
            if name != "All" and name not in known:
                raise SqsInvalidAttributeName(f"Unknown Attribute {name}.")
        queue.advance(now())
        values = dict(queue.attributes)
        values.update(
            ApproximateNumberOfMessages=str(queue.counts[0]),
            ApproximateNumberOfMessagesNotVisible=str(queue.counts[1]),
            ApproximateNumberOfMessagesDelayed=str(queue.counts[2]),
            CreatedTimestamp=str(int(queue.created)),
            LastModifiedTimestamp=str(int(queue.modified)),
            QueueArn=queue.arn,
        )
        wanted = values if "All" in names else {n: values[n] for n in names if n in values}
        return {"Attributes": wanted} if wanted else {}

    async def set_queue_attributes(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_by_url(params.get("QueueUrl"))
        changes = sqs_attrs.normalize(params.get("Attributes") or {}, queue.fifo, creating=False)
        self._check_redrive(queue.account, changes, queue.fifo)
        merged = sqs_attrs.with_defaults({**queue.attributes, **changes}, queue.fifo)
        modified = time.time()
        await self.store.update_queue(
            queue.qid, orjson.dumps(merged).decode(), orjson.dumps(queue.tags).decode(), modified
        )
        queue.attributes = merged
        queue.modified = modified
        return {}

    async def delete_queue(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_by_url(params.get("QueueUrl"))
        await self.store.delete_queue(queue.qid)
        self.queues.pop((queue.account, queue.name), None)
        queue.deleted = True
        queue.changed.set()
        return {}

    async def purge_queue(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_by_url(params.get("QueueUrl"))
        at = time.monotonic()
        if queue.last_purge and at - queue.last_purge < 60:
            raise PurgeQueueInProgress(
                f"Only one PurgeQueue operation on {queue.name} is allowed every 60 seconds."
            )
        queue.last_purge = at
        self.store.delete(queue.purge())
        return {}

    # tags -----------------------------------------------------------------------------
    async def tag_queue(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_by_url(params.get("QueueUrl"))
        tags = {**queue.tags, **(params.get("Tags") or {})}
        if len(tags) > 50:
            raise SqsInvalidParameterValue("Too many tags added for queue " + queue.name + ".")
        await self._save_tags(queue, tags)
        return {}

    async def untag_queue(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_by_url(params.get("QueueUrl"))
        drop = set(params.get("TagKeys") or [])
        await self._save_tags(queue, {k: v for k, v in queue.tags.items() if k not in drop})
        return {}

    async def list_queue_tags(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        queue = self.queue_by_url(params.get("QueueUrl"))
        return {"Tags": dict(queue.tags)} if queue.tags else {}

    async def _save_tags(self, queue: Queue, tags: dict[str, str]) -> None:
        await self.store.update_queue(
            queue.qid,
            orjson.dumps(queue.attributes).decode(),
            orjson.dumps(tags).decode(),
            queue.modified,
        )
        queue.tags = tags

    async def list_dead_letter_source_queues(
        self, account: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        target = self.queue_by_url(params.get("QueueUrl"))
        urls = sorted(
            self.url(q)
            for q in self.queues.values()
            if (sqs_attrs.redrive_target(q.attributes) or ("", 0))[0] == target.arn
        )
        return {"queueUrls": urls}

    def redrive(self, queue: Queue) -> Any:
        """The callback `Queue.take` moves over-received messages with (None: no DLQ)."""
        target = sqs_attrs.redrive_target(queue.attributes)
        if target is None:
            return None, 0
        arn, max_receives = target
        parsed = sqs_attrs.parse_arn(arn)
        dlq = self.queues.get((parsed[1], parsed[2])) if parsed else None
        if dlq is None or dlq is queue:
            return None, 0

        def move(message: Message) -> bool:
            at = now()
            queue.remove(message)
            message.receive_count = 0
            message.first_receive = None
            message.system = {**(message.system or {}), "DeadLetterQueueSourceArn": queue.arn}
            message.seq = dlq.next_seq
            dlq.next_seq += 1
            message.due = at
            dlq.add(message, at)
            self.store.move(
                message.key, dlq.qid, message.seq, orjson.dumps(message.system).decode()
            )
            return True

        return move, max_receives
