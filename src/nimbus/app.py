"""Composition root: the only place that names concrete classes and wires them together."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nimbus.api.edge import Edge, Receive, Response, Scope, Send, ServiceAdapter
from nimbus.api.events import events_api
from nimbus.api.lambda_ import LambdaApi
from nimbus.api.logs import logs_api
from nimbus.api.nimbus_ import nimbus_api
from nimbus.api.s3 import S3Api
from nimbus.api.s3_multipart import register as register_multipart
from nimbus.api.s3_notification import register as register_notifications
from nimbus.api.s3_routes import s3_api
from nimbus.api.sns import SnsApi, public_route
from nimbus.api.sqs import SqsApi
from nimbus.cells.cell import CellPeers
from nimbus.cells.shared import SharedState
from nimbus.config import EngineConfig
from nimbus.engine.engine import Engine
from nimbus.obs.logs import LogStore
from nimbus.sandbox.placement import CpuPlacement
from nimbus.services.accounts import RootCredentials, ensure_root, server_secret
from nimbus.services.async_invoke import AsyncConfig, AsyncInvokeService, lambda_deliverer
from nimbus.services.bus_destination import bus_deliverer
from nimbus.services.codeurls import CodeUrlSigner
from nimbus.services.concurrency import FunctionConcurrency
from nimbus.services.destinations import Destinations
from nimbus.services.event_config import EventConfigService
from nimbus.services.function_urls import FunctionUrls
from nimbus.services.functions import FunctionsConfig, FunctionService
from nimbus.services.invoke import InvokeService
from nimbus.services.logs import LogsService
from nimbus.services.mappings import MappingService
from nimbus.services.registry import FunctionRegistry
from nimbus.services.routes import Routes
from nimbus.services.rule_targets import TargetDelivery
from nimbus.services.rules import RulesService
from nimbus.services.s3 import S3Service
from nimbus.services.s3_multipart import MultipartService
from nimbus.services.s3_multipart_objects import S3Objects
from nimbus.services.s3_notification import BucketNotifications
from nimbus.services.scheduler import Scheduler
from nimbus.services.sns import SnsService
from nimbus.services.sns_delivery import PUBLIC_PREFIX, Deliveries, Urls
from nimbus.services.sns_http import HttpSender
from nimbus.services.sns_publish import Publisher
from nimbus.services.sns_signing import Signer
from nimbus.services.sqs import SqsService
from nimbus.services.usage import UsageService
from nimbus.sources.gateway import Gateway
from nimbus.sources.sqs_poller import SqsPollers
from nimbus.sources.url_gateway import UrlGateway
from nimbus.store.code import CodeStore
from nimbus.store.events import EventInvokeConfigs, EventQueue
from nimbus.store.mappings import MappingStore
from nimbus.store.metering import MeteringWriter
from nimbus.store.objects import ObjectStore
from nimbus.store.rules import RuleStore
from nimbus.store.s3_notifications import NotificationStore
from nimbus.store.s3_uploads import UploadStore
from nimbus.store.sns import SnsStore
from nimbus.store.sqlite import Database
from nimbus.store.sqs import SqsStore

log = logging.getLogger("nimbus")


@dataclass
class ServerConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8900
    auth: str = "sigv4"  # "sigv4" | "open"
    account_id: str = "000000000000"
    region: str = "us-east-1"
    gateway_port: int = 8901  # the HTTP gateway's own port (0: none)
    engine: dict[str, Any] = field(default_factory=dict)  # EngineConfig overrides
    placement: CpuPlacement | None = None  # the CPU the server is pinned to (server.py)
    shared: SharedState | None = None  # with --cells N: what the cells share (cells/)

    @property
    def endpoint_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"


def async_config() -> AsyncConfig:
    """NIMBUS_ASYNC_RETRY_DELAYS="60,120" (seconds before the 1st and 2nd retry; tests use
    small values)."""
    delays = os.environ.get("NIMBUS_ASYNC_RETRY_DELAYS")
    if not delays:
        return AsyncConfig()
    return AsyncConfig(
        retry_delays_s=tuple(float(d) for d in delays.split(",")), throttle_backoff_s=(0.2, 5.0)
    )


def _s3_hosts(host: str) -> tuple[str, ...]:
    """Host names under which "<bucket>.<host>" addresses a bucket (virtual-host style)."""
    extra = os.environ.get("NIMBUS_S3_HOSTS", "")  # e.g. "s3.example.internal,example.test"
    names = [host, "localhost", *(h.strip() for h in extra.split(",") if h.strip())]
    return tuple(dict.fromkeys(n for n in names if n not in ("0.0.0.0", "::", "")))


class Nimbus:
    """The ASGI application: lifespan starts and stops everything; HTTP goes to the edge."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.edge: Edge | None = None
        self.engine: Engine | None = None
        self.db: Database | None = None
        self.metering: MeteringWriter | None = None
        self.credentials: RootCredentials | None = None
        self.new_credentials = False
        self.async_invoke: AsyncInvokeService | None = None
        self.log_store: LogStore | None = None
        self.gateway: Any = None  # the HTTP gateway's ASGI app
        self.on_started: list[Callable[[], Awaitable[None]]] = []
        self.scheduler: Scheduler | None = None
        self.queue: EventQueue | None = None
        self.s3: S3Service | None = None
        self.s3_api: S3Api | None = None  # other S3 modules register operations here
        self.object_store: ObjectStore | None = None
        self.s3_uploads: UploadStore | None = None  # multipart uploads in progress
        self.sqs: SqsService | None = None
        self.mappings: MappingService | None = None
        self.pollers: SqsPollers | None = None
        self.sns: Publisher | None = None  # contracts.TopicPublisher (destinations, S3)
        self.sns_http: HttpSender | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            server = scope.get("server")
            if server and server[1] == self.config.gateway_port and self.config.gateway_port:
                await self._gateway(scope, receive, send)
                return
            assert self.edge is not None
            await self.edge(scope, receive, send)

    async def _gateway(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.gateway is not None:
            await self.gateway(scope, receive, send)
            return
        body = b'{"message":"Not Found"}'
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"%d" % len(body)),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                    for hook in self.on_started:  # before the server listens (cells/)
                        await hook()
                except Exception as e:
                    log.exception("Nimbus failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(e)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def start(self) -> None:
        config = self.config
        data = config.data_dir
        data.mkdir(parents=True, exist_ok=True)
        self.db = await Database.open(data / "nimbus.db")
        self.credentials, self.new_credentials = await ensure_root(self.db, data, config.account_id)
        self.metering = MeteringWriter(self.db)
        await self.metering.start()
        engine_config = EngineConfig(
            data_dir=data, account_id=config.account_id, region=config.region, **config.engine
        )
        log_store = self.log_store = LogStore(data / "logs")
        peers = CellPeers(config.shared, 0) if config.shared else None
        self.engine = Engine(engine_config, log_store, self.metering, config.placement, peers)
        await self.engine.start()
        code = CodeStore(engine_config.code_dir)
        credentials = {config.account_id: self.credentials.as_environment()}
        registry = FunctionRegistry(
            self.db, code.root, config.endpoint_url, credentials, config.shared
        )
        functions = FunctionService(
            registry,
            code,
            self.engine,
            self.engine,
            CodeUrlSigner(config.endpoint_url, server_secret(data)),
            FunctionsConfig(
                region=config.region, concurrency_limit=engine_config.concurrency_limit
            ),
        )
        await functions.resume()
        queue = EventQueue(self.db)
        await queue.start()
        destinations = Destinations()
        # SQS first: destinations, DLQs and event source mappings deliver to / read from it.
        self.sqs = SqsService(SqsStore(self.db), config.endpoint_url, config.region)
        await self.sqs.start()
        destinations.register("sqs", self.sqs.deliver)
        invoke_configs = EventInvokeConfigs(self.db)  # one instance: it caches
        self.async_invoke = AsyncInvokeService(
            queue, invoke_configs, registry, self.engine, destinations, async_config()
        )
        destinations.register("lambda", lambda_deliverer(self.async_invoke))
        await self.async_invoke.start()
        self.queue = queue
        rule_store = RuleStore(self.db)
        rule_delivery = TargetDelivery(rule_store, self.async_invoke, destinations)
        self.scheduler = Scheduler(
            rule_store,
            rule_delivery,
            config.region,
            time_scale=float(os.environ.get("NIMBUS_SCHEDULE_TIME_SCALE", "1")),
        )
        rules = RulesService(
            rule_store, rule_delivery, config.region, self.scheduler.kick, self.scheduler.now
        )
        destinations.register("events", bus_deliverer(rules))
        await self.scheduler.start()
        invoke = InvokeService(registry, self.engine, config.region, self.async_invoke)
        event_config = EventConfigService(invoke_configs, registry, config.region)
        db = self.db

        known: dict[str, tuple[str, str]] = {}  # access keys never change: no DB read per request

        async def lookup(access_key: str) -> tuple[str, str] | None:
            found = known.get(access_key)
            if found is None:
                found = await db.access_key(access_key)
                if found is not None:
                    known[access_key] = found
            return found

        routes = Routes(data / "routes.json", registry, config.region)
        gateway_host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
        function_urls = FunctionUrls(
            data / "function_urls.json",
            registry,
            f"http://{gateway_host}:{config.gateway_port}",
            config.region,
        )
        self.gateway = Gateway(
            routes,
            registry,
            self.engine,
            config.account_id,
            config.region,
            urls=UrlGateway(function_urls, registry, self.engine, lookup, config.region),
        )
        usage = UsageService(
            self.db, engine_config.price_per_request, engine_config.price_per_gb_second
        )
        # Event source mappings: pollers read the SQS service through QueueConsumer.
        self.pollers = SqsPollers(self.sqs, registry, self.engine)
        sqs = self.sqs
        self.mappings = MappingService(
            MappingStore(self.db),
            registry,
            sqs,
            self.pollers,
            config.region,
            lambda arn: sqs.queue_by_arn(arn).int_attr("VisibilityTimeout"),
        )
        await self.mappings.resume()
        # SNS: fans out to SQS (the queue sink: the SQS service, where it is wired), Lambda
        # (asynchronous invocations) and HTTP/S. NIMBUS_SNS_HTTP_RETRY_DELAYS="20,20,20".
        http_delays = os.environ.get("NIMBUS_SNS_HTTP_RETRY_DELAYS", "20,20,20")
        self.sns_http = HttpSender(tuple(float(d) for d in http_delays.split(",") if d))
        signer = await asyncio.to_thread(Signer.load_or_create, data / "sns")
        sns_deliveries = Deliveries(
            signer,
            Urls(config.endpoint_url),
            self.sns_http,
            self.async_invoke.accept,
            self.sqs,
        )
        sns_service = SnsService(SnsStore(self.db), sns_deliveries, config.region)
        await sns_service.start()
        self.sns = Publisher(sns_service)
        destinations.register("sns", self.sns.deliver_destination)
        self.object_store = ObjectStore(self.db, data / "s3")
        await self.object_store.start()
        self.s3 = S3Service(self.object_store, config.region)
        self.s3_api = s3_api(self.s3, _s3_hosts(config.host))
        # Bucket notifications (S3 -> Lambda through the async queue, SQS, SNS) and
        # CreateFunction with Code.S3Bucket/S3Key.
        notifications = BucketNotifications(
            NotificationStore(self.db),
            self.async_invoke,
            registry,
            config.region,
            queues=self.sqs,
            topics=self.sns,
        )
        self.s3.events = notifications
        register_notifications(self.s3_api, self.s3, notifications)
        self.s3_uploads = UploadStore(self.db, data / "s3-multipart")
        await self.s3_uploads.start()
        multipart = MultipartService(self.s3_uploads, S3Objects(self.s3))
        await multipart.forget_orphans()  # uploads of buckets deleted meanwhile
        register_multipart(self.s3_api, multipart)
        functions.packages.objects = self.s3
        adapters: dict[str, ServiceAdapter] = {
            "lambda": LambdaApi(
                functions,
                invoke,
                event_config,
                function_urls,
                self.mappings,
                FunctionConcurrency(functions),
            ),
            "logs": logs_api(LogsService(log_store, config.region)),
            "nimbus": nimbus_api(usage, routes),
            "events": events_api(rules),
            "sns": SnsApi(sns_service, self.sns),
            "sqs": SqsApi(self.sqs),
            "s3": self.s3_api,
        }
        self.edge = Edge(
            adapters,
            lookup,
            open_auth_account=config.account_id if config.auth == "open" else None,
        )
        self.edge.extra_routes["/_nimbus/code/"] = self._code_download(functions)
        self.edge.extra_routes[PUBLIC_PREFIX] = public_route(sns_service, signer.cert_pem)
        # Everything built so far (modules, botocore models, ...) lives as long as the
        # server: out of the collector's sight, full collections stop rescanning it (with
        # 100k SQS messages queued, receive+delete went from 29 to 25 us CPU per message).
        gc.freeze()

    def _code_download(self, functions: FunctionService) -> Any:
        async def serve(scope: Scope, body: bytes) -> Response:
            from urllib.parse import parse_qs

            key = scope["path"].rsplit("/", 1)[-1].removesuffix(".zip")
            query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
            if not functions.urls.verify(key, query.get("Expires", ""), query.get("Signature", "")):
                return (
                    403,
                    [("Content-Type", "application/xml")],
                    (
                        b"<Error><Code>AccessDenied</Code><Message>Request has expired or the "
                        b"signature is invalid</Message></Error>"
                    ),
                )
            data = await asyncio.to_thread(functions.code.zip_path(key).read_bytes)
            return 200, [("Content-Type", "application/zip")], data

        return serve

    async def stop(self) -> None:
        if self.mappings is not None:
            await self.mappings.close()
        if self.pollers is not None:
            await self.pollers.close()  # batches in flight finish; the rest stay queued
        if self.scheduler is not None:
            await self.scheduler.close()
        if self.async_invoke is not None:
            await self.async_invoke.close()  # lets events in flight finish; the rest stay queued
        if self.sns_http is not None:
            await self.sns_http.close()
        if self.queue is not None:
            await self.queue.close()
        if self.engine is not None:
            await self.engine.close()  # drains in-flight invocations first
        if self.s3_uploads is not None:
            await self.s3_uploads.close()
        if self.object_store is not None:
            await self.object_store.close()
        if self.sqs is not None:
            await self.sqs.close()  # pending write-behind (deletes, receive counts) flushed
        if self.metering is not None:
            await self.metering.close()
        if self.log_store is not None:
            self.log_store.close()
        if self.db is not None:
            with contextlib.suppress(Exception):
                await self.db.close()
