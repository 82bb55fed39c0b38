"""Turn what happened in an environment into AWS' response payload, log lines and outcome."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from nimbus.engine.environment import Environment
from nimbus.engine.transport import Outcome
from nimbus.obs import logs

MAX_RESPONSE_BYTES = 6 * 1024 * 1024  # 6,291,456: the synchronous response limit


@dataclass(slots=True)
class Verdict:
    payload: bytes
    function_error: str | None  # "Unhandled" for every function-side failure
    outcome: str  # success | error | timeout | oom | crash | init_error
    trailer: str = ""  # platform lines printed after REPORT (timeouts, runtime exits)


def _error(error_type: str, message: str) -> bytes:
    return orjson.dumps({"errorType": error_type, "errorMessage": message})


def from_answer(answer: Outcome) -> Verdict:
    if answer.kind == "response":
        if len(answer.body) > MAX_RESPONSE_BYTES:
            return Verdict(
                _error(
                    "Function.ResponseSizeTooLarge",
                    "Response payload size exceeded maximum allowed payload size "
                    f"({MAX_RESPONSE_BYTES} bytes).",
                ),
                "Unhandled",
                "error",
            )
        return Verdict(answer.body, None, "success")
    outcome = "init_error" if answer.kind == "init_error" else "error"
    return Verdict(answer.body, "Unhandled", outcome)


def from_death(env: Environment, request_id: str) -> Verdict:
    """The environment died before answering: timeout, out of memory or a crash."""
    if env.timed_out:
        timeout = env.spec.timeout_s
        return Verdict(
            _error(
                "Sandbox.Timedout",
                f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
            ),
            "Unhandled",
            "timeout",
            logs.timeout_line(request_id, timeout),
        )
    reason = env.exit_reason()
    if env.oom_killed():
        error_type, outcome = "Runtime.OutOfMemory", "oom"
    else:
        error_type, outcome = "Runtime.ExitError", "crash"
    return Verdict(
        _error(error_type, f"RequestId: {request_id} Error: {reason}"),
        "Unhandled",
        outcome,
        logs.exit_lines(request_id, reason, error_type),
    )
