"""EventBridge rules through boto3 against a real server: schedules and PutEvents reach
Lambda targets (asynchronously, through the durable async-invoke path)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from e2e import ACCOUNT, REGION, NimbusServer, create, make_zip, unique

RECORDER = """
import json
def handler(event, context):
    print("EVENT " + json.dumps(event, sort_keys=True))
"""


def events_seen(server: NimbusServer, function: str) -> list[dict[str, Any]]:
    folder = server.data_dir / "logs" / f"aws_lambda_{function}"
    seen = []
    for path in sorted(folder.glob("*.log")) if folder.exists() else []:
        for line in path.read_text().splitlines():
            message = line.partition("\t")[2]
            if message.startswith("EVENT "):
                seen.append(json.loads(message[6:]))
    return seen


def wait_events(
    server: NimbusServer, function: str, count: int, timeout: float = 15
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = events_seen(server, function)
        if len(seen) >= count:
            return seen
        time.sleep(0.1)
    raise AssertionError(f"{function}: {len(events_seen(server, function))} of {count} events")


@pytest.fixture(scope="module")
def fast_clock(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # A minute of schedule time passes every second.
    server = NimbusServer(
        tmp_path_factory.mktemp("events") / "data", env={"NIMBUS_SCHEDULE_TIME_SCALE": "60"}
    ).start()
    yield server
    server.stop()


def test_rate_schedule_invokes_the_target(fast_clock: NimbusServer) -> None:
    lam, events = fast_clock.client(), fast_clock.client("events")
    target = create(lam, unique("tick"), Code={"ZipFile": make_zip({"app.py": RECORDER})})
    rule = events.put_rule(Name=unique("every-minute"), ScheduleExpression="rate(1 minute)")
    assert rule["RuleArn"].startswith("arn:aws:events:us-east-1:000000000000:rule/")
    events.put_targets(
        Rule=rule["RuleArn"].rsplit("/", 1)[1], Targets=[{"Id": "fn", "Arn": target["FunctionArn"]}]
    )
    seen = wait_events(fast_clock, target["FunctionName"], 2)
    first = seen[0]
    assert first["source"] == "aws.events" and first["detail-type"] == "Scheduled Event"
    assert first["resources"] == [rule["RuleArn"]] and first["detail"] == {}
    assert first["account"] == "000000000000" and first["region"] == "us-east-1"
    assert first["version"] == "0" and first["time"].endswith("Z")


def test_invalid_schedule_is_rejected_with_aws_message(fast_clock: NimbusServer) -> None:
    events = fast_clock.client("events")
    for expression in ("rate(5 minute)", "rate(1 minutes)", "cron(0 10 * * * *)"):
        with pytest.raises(events.exceptions.ClientError) as info:
            events.put_rule(Name=unique("bad"), ScheduleExpression=expression)
        error = info.value.response["Error"]
        assert error["Code"] == "ValidationException"
        assert error["Message"] == "Parameter ScheduleExpression is not valid."


def test_put_events_matches_patterns(fast_clock: NimbusServer) -> None:
    lam, events = fast_clock.client(), fast_clock.client("events")
    target = create(lam, unique("orders"), Code={"ZipFile": make_zip({"app.py": RECORDER})})
    name = unique("big-orders")
    events.put_rule(
        Name=name,
        EventPattern=json.dumps(
            {"source": ["shop"], "detail": {"amount": [{"numeric": [">", 100]}]}}
        ),
    )
    events.put_targets(Rule=name, Targets=[{"Id": "fn", "Arn": target["FunctionArn"]}])
    result = events.put_events(
        Entries=[
            {"Source": "shop", "DetailType": "order", "Detail": json.dumps({"amount": 250})},
            {"Source": "shop", "DetailType": "order", "Detail": json.dumps({"amount": 5})},
            {"Source": "other", "DetailType": "order", "Detail": json.dumps({"amount": 900})},
        ]
    )
    assert result["FailedEntryCount"] == 0 and len(result["Entries"]) == 3
    seen = wait_events(fast_clock, target["FunctionName"], 1)
    time.sleep(0.5)
    seen = events_seen(fast_clock, target["FunctionName"])
    assert [e["detail"] for e in seen] == [{"amount": 250}]
    assert seen[0]["id"] == result["Entries"][0]["EventId"]
    assert seen[0]["detail-type"] == "order" and seen[0]["source"] == "shop"


def test_input_transformer_places_selected_values(fast_clock: NimbusServer) -> None:
    lam, events = fast_clock.client(), fast_clock.client("events")
    target = create(lam, unique("shaped"), Code={"ZipFile": make_zip({"app.py": RECORDER})})
    name = unique("shape")
    events.put_rule(Name=name, EventPattern=json.dumps({"source": ["shape-shop"]}))
    template = '{"who": <who>, "line": "<who> spent <amount>", "n": <amount>, "rule": "<r>"}'
    events.put_targets(
        Rule=name,
        Targets=[
            {
                "Id": "fn",
                "Arn": target["FunctionArn"],
                "InputTransformer": {
                    "InputPathsMap": {
                        "who": "$.detail.customer",
                        "amount": "$.detail.amount",
                        "r": "$.source",
                    },
                    "InputTemplate": template,
                },
            }
        ],
    )
    events.put_events(
        Entries=[
            {
                "Source": "shape-shop",
                "DetailType": "order",
                "Detail": json.dumps({"customer": 'Ann "A"', "amount": 12.5}),
            }
        ]
    )
    seen = wait_events(fast_clock, target["FunctionName"], 1)
    assert seen == [
        {"who": 'Ann "A"', "line": 'Ann "A" spent 12.5', "n": 12.5, "rule": "shape-shop"}
    ]


def test_event_bus_destination_receives_the_invocation_record(fast_clock: NimbusServer) -> None:
    lam, events = fast_clock.client(), fast_clock.client("events")
    recorder = create(lam, unique("results"), Code={"ZipFile": make_zip({"app.py": RECORDER})})
    worker = create(lam, unique("worker"), Code={"ZipFile": make_zip({"app.py": RECORDER})})
    rule = unique("results")
    events.put_rule(
        Name=rule,
        EventPattern=json.dumps(
            {"source": ["lambda"], "resources": [{"prefix": worker["FunctionArn"]}]}
        ),
    )
    events.put_targets(Rule=rule, Targets=[{"Id": "r", "Arn": recorder["FunctionArn"]}])
    bus = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
    lam.put_function_event_invoke_config(
        FunctionName=worker["FunctionName"],
        DestinationConfig={"OnSuccess": {"Destination": bus}},
    )
    lam.invoke(FunctionName=worker["FunctionName"], InvocationType="Event", Payload=b'{"k": 1}')
    (event,) = wait_events(fast_clock, recorder["FunctionName"], 1)
    assert event["source"] == "lambda"
    assert event["detail-type"] == "Lambda Function Invocation Result - Success"
    assert event["resources"] == [f"{worker['FunctionArn']}:$LATEST"]
    assert event["detail"]["requestContext"]["condition"] == "Success"
    assert event["detail"]["requestPayload"] == {"k": 1}
