"""Nimbus' Python runtime: the Lambda Runtime API loop over the private channel.

Behaviour mirrors AWS' own runtime (awslambdaric's bootstrap): handler
resolution and its Runtime.* faults, error records, log lines, marshalling.
"""

import decimal
import importlib
import json
import logging
import os
import sys
import traceback

from . import logsetup
from .channel import ERROR, INIT_ERROR, INVOKE, READY, RESPONSE, FrameReader, encode, receive
from .context import LambdaContext

UNHANDLED_WARNING = (
    "LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the function "
    "code. However, in rare cases, a Lambda runtime update can cause unexpected function "
    "behavior. For functions using managed runtimes, runtime updates can be triggered by a "
    "function change, or can be applied automatically. To determine if the runtime has been "
    "updated, check the runtime version in the INIT_START log entry. If this error correlates "
    "with a change in the runtime version, you may be able to mitigate this error by "
    "temporarily rolling back to the previous runtime version. For more information, see "
    "https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html\r"
)


class Fault(Exception):
    def __init__(self, error_type, msg, trace=None):
        Exception.__init__(self, msg)
        self.error_type = error_type
        self.msg = msg
        self.trace = trace


def load_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise Fault("Runtime.MalformedHandlerName", "Bad handler '%s': %s" % (handler, e))
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise Fault(
                "Runtime.BuiltInModuleConflict",
                "Cannot use built-in module %s as a handler module" % modname,
            )
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise Fault("Runtime.ImportModuleError", "Unable to import module '%s': %s" % (modname, e))
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise Fault(
            "Runtime.UserCodeSyntaxError", "Syntax error in module '%s': %s" % (modname, e), trace
        )
    try:
        return getattr(module, fname)
    except AttributeError:
        raise Fault(
            "Runtime.HandlerNotFound", "Handler '%s' missing on module '%s'" % (fname, modname)
        )


def make_error(message, error_type, stack_trace, request_id=None):
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": request_id if request_id is not None else "",
        "stackTrace": stack_trace or [],
    }


def user_traceback(tb):
    """Traceback entries from the first frame outside this file, as AWS formats them."""
    frames = traceback.extract_tb(tb)
    for i, frame in enumerate(frames):
        if "/bootstrap.py" not in frame.filename:
            frames = frames[i:]
            break
    return traceback.format_list([(f.filename, f.lineno, f.name, f.line) for f in frames])


class Encoder(json.JSONEncoder):
    def default(self, obj):
        if isinstance(obj, decimal.Decimal):
            return (
                float("nan")
                if obj.is_nan()
                else (int(obj) if obj == obj.to_integral_value() else float(obj))
            )
        return json.JSONEncoder.default(self, obj)


def _encoder():
    modern = os.environ.get("AWS_EXECUTION_ENV") in (
        "AWS_Lambda_python3.12",
        "AWS_Lambda_python3.13",
        "AWS_Lambda_python3.14",
    )
    return Encoder(ensure_ascii=not modern, allow_nan=True)


def _parse_json_header(raw, name):
    if not raw:
        return None
    try:
        return json.loads(raw)
    except Exception as e:
        raise Fault(
            "Runtime.LambdaContextUnmarshalError", "Unable to parse %s JSON: %s" % (name, e)
        )


def handle(sock, handler, header, body, encoder, sink, log_format):
    request_id = header["id"]
    logsetup.current["request_id"] = request_id
    logsetup.current["tenant_id"] = header.get("tenant")
    if header.get("trace"):
        os.environ["_X_AMZN_TRACE_ID"] = header["trace"]
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    error = None
    try:
        context = LambdaContext(
            request_id,
            _parse_json_header(header.get("cc"), "Client Context"),
            _parse_json_header(header.get("ci"), "Cognito Identity"),
            header["deadline"],
            header.get("arn"),
            header.get("tenant"),
        )
        try:
            event = json.loads(body)
        except Exception as e:
            raise Fault("Runtime.UnmarshalError", "Unable to unmarshal input: %s" % e)
        result = handler(event, context)
        if isinstance(result, bytes):
            out, content_type = result, "application/unknown"
        else:
            try:
                out, content_type = encoder.encode(result).encode(), "application/json"
            except Exception as e:
                raise Fault("Runtime.MarshalError", "Unable to marshal response: %s" % e)
    except Fault as e:
        error = make_error(e.msg, e.error_type, e.trace, request_id)
    except Exception:
        etype, value, tb = sys.exc_info()
        error = make_error(str(value), etype.__name__, user_traceback(tb), request_id)
    if error is not None:
        logsetup.log_error(error, sink, log_format)
        sock.sendall(encode(ERROR, None, json.dumps(error).encode()))
    else:
        sock.sendall(encode(RESPONSE, {"ct": content_type}, out))


def warm_up():
    """Run one dummy invocation through this module (in a blank, before any request), so
    the pages it writes are copied from the zygote now rather than during a cold start."""
    import socket

    ours, theirs = socket.socketpair()
    try:
        header = {"id": "warm-up", "deadline": 0, "arn": "", "cc": "{}", "ci": "{}"}
        handle(
            theirs,
            lambda event, context: event,
            header,
            b'{"a": [1, 2.5, "x"]}',
            _encoder(),
            logsetup.StandardLogSink(),
            "TEXT",
        )
        receive(ours)
        compile("def handler(event, context):\n    return None\n", "<warm-up>", "exec")
    finally:
        ours.close()
        theirs.close()
        os.environ.pop("_X_AMZN_TRACE_ID", None)


def run(sock, handler_name):
    """INIT (import the handler), then serve invocations until the channel closes."""
    log_format = os.environ.get("AWS_LAMBDA_LOG_FORMAT", "Text").upper()
    sink = logsetup.setup(log_format, os.environ.get("AWS_LAMBDA_LOG_LEVEL"))
    try:
        handler = load_handler(handler_name)
    except Fault as e:
        error = make_error(e.msg, e.error_type, e.trace)
    except BaseException:
        error = make_error(
            str(sys.exc_info()[1]), sys.exc_info()[0].__name__, user_traceback(sys.exc_info()[2])
        )
    else:
        error = None
    if error is not None:
        logging.warning(UNHANDLED_WARNING)
        logsetup.log_error(error, sink, log_format)
        sock.sendall(encode(INIT_ERROR, {"type": error["errorType"]}, json.dumps(error).encode()))
        os._exit(1)
    encoder = _encoder()
    frames = FrameReader(sock)
    sock.sendall(encode(READY, None))
    while True:
        try:
            kind, header, body = frames.receive()
        except EOFError:
            os._exit(0)
        if kind == INVOKE:
            handle(sock, handler, header, body, encoder, sink, log_format)
