"""Lambda's Python log wiring: unbuffered stdout, `logging` lines in AWS' text or JSON format."""

import json
import logging
import sys
import time
import traceback

ERROR_LINE_TERMINATOR = "\r"
ERROR_INDENT = "\u00a0"  # AWS replaces traceback indentation with NO-BREAK SPACE
_JSON_DATETIME = "%Y-%m-%dT%H:%M:%SZ"
_RESERVED = {
    "name",
    "msg",
    "args",
    "levelname",
    "levelno",
    "pathname",
    "filename",
    "module",
    "exc_info",
    "exc_text",
    "stack_info",
    "lineno",
    "funcName",
    "created",
    "msecs",
    "relativeCreated",
    "thread",
    "threadName",
    "processName",
    "process",
    "aws_request_id",
    "tenant_id",
    "taskName",
}

current = {"request_id": None, "tenant_id": None}


class Unbuffered(object):
    def __init__(self, stream):
        self.stream = stream

    def __getattr__(self, attr):
        return getattr(self.stream, attr)

    def write(self, msg):
        self.stream.write(msg)
        self.stream.flush()

    def writelines(self, msgs):
        self.stream.writelines(msgs)
        self.stream.flush()


class StandardLogSink(object):
    def log(self, msg, frame_type=None):
        sys.stdout.write(msg)

    def log_error(self, message_lines):
        sys.stdout.write(ERROR_LINE_TERMINATOR.join(message_lines) + "\n")


class LambdaLoggerHandler(logging.Handler):
    def __init__(self, log_sink):
        logging.Handler.__init__(self)
        self.log_sink = log_sink

    def emit(self, record):
        self.log_sink.log(self.format(record))


class LambdaLoggerFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = current["request_id"] or ""
        record.tenant_id = current["tenant_id"]
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self):
        logging.Formatter.__init__(self, datefmt=_JSON_DATETIME)

    def format(self, record):
        record.levelno = min(50, max(0, record.levelno)) // 10 * 10
        record.levelname = logging.getLevelName(record.levelno)
        exc = record.exc_info
        result = {
            "timestamp": self.formatTime(record, self.datefmt),
            "level": record.levelname,
            "message": record.msg
            if isinstance(record.msg, dict) and not record.args
            else record.getMessage(),
            "logger": record.name,
            "stackTrace": traceback.format_tb(exc[2]) if exc else None,
            "errorType": exc[0].__name__ if exc else None,
            "errorMessage": str(exc[1]) if exc else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": "%s:%s:%s" % (record.pathname, record.funcName, record.lineno)
            if exc
            else None,
        }
        if getattr(record, "tenant_id", None) is not None:
            result["tenantId"] = record.tenant_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key not in result:
                result[key] = value
        result = {k: v for k, v in result.items() if v is not None}
        return json.dumps(result, ensure_ascii=False, default=str) + "\n"


def setup(log_format, log_level):
    """Install AWS' root-logger handler; return the sink errors are written to."""
    sys.stdout = Unbuffered(sys.stdout)
    sys.stderr = Unbuffered(sys.stderr)
    sink = StandardLogSink()
    logging.Formatter.converter = time.gmtime
    handler = LambdaLoggerHandler(sink)
    if log_format == "JSON":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
                "%Y-%m-%dT%H:%M:%S",
            )
        )
    level = {"TRACE": "DEBUG"}.get(log_level or "", log_level or "").upper()
    root = logging.getLogger()
    if level in ("DEBUG", "INFO", "WARN", "WARNING", "ERROR", "CRITICAL", "FATAL"):
        root.setLevel(level.replace("WARN", "WARNING").replace("WARNINGING", "WARNING"))
    handler.addFilter(LambdaLoggerFilter())
    root.addHandler(handler)
    return sink


def _reindent(line):
    stripped = line.lstrip(" ")
    return ERROR_INDENT * (len(line) - len(stripped)) + stripped


def log_error(error, sink, log_format):
    if log_format == "JSON":
        record = {"timestamp": time.strftime(_JSON_DATETIME, time.gmtime()), "level": "ERROR"}
        record.update(error)
        sink.log_error([json.dumps(record, ensure_ascii=False)])
        return
    line = "[ERROR]"
    if error.get("errorType"):
        line += " " + error["errorType"]
    if error.get("errorMessage"):
        line += (":" if error.get("errorType") else "") + " " + error["errorMessage"]
    lines = [line]
    if error.get("stackTrace") is not None:
        lines.append("Traceback (most recent call last):")
        for element in error["stackTrace"]:
            if element == "":
                lines.append("")
            else:
                lines.extend(_reindent(x) for x in element.splitlines())
    sink.log_error(lines)
