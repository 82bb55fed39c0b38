"""Make a thumbnail of every image uploaded under uploads/ and announce it on SNS.

An ordinary Lambda function: it runs unchanged on AWS and on Nimbus. Triggered by S3
ObjectCreated notifications; reads the image with boto3, writes a PNG thumbnail of at most
THUMBNAIL_SIZE pixels to THUMBNAIL_BUCKET under thumbnails/, and publishes one message per
upload to TOPIC_ARN: {"status": "ok" | "failed", ...}.

Files that are not images (or are corrupt) are logged and reported as "failed", and the
function returns normally: a bad upload stays bad, so retrying it would only repeat the
error. Anything else (S3 or SNS unreachable) raises, and Lambda retries the event.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
from typing import Any
from urllib.parse import quote, unquote_plus

import boto3
from PIL import Image, ImageOps

logger = logging.getLogger()
logger.setLevel(logging.INFO)

THUMBNAIL_BUCKET = os.environ["THUMBNAIL_BUCKET"]
TOPIC_ARN = os.environ["TOPIC_ARN"]
SIZE = int(os.environ.get("THUMBNAIL_SIZE", "128"))
PREFIX = "uploads/"
Image.MAX_IMAGE_PIXELS = 50_000_000  # refuse decompression bombs early

# Created once per execution environment and reused by every invocation it serves.
s3 = boto3.client("s3")
sns = boto3.client("sns")


class NotAnImage(Exception):
    pass


def thumbnail(data: bytes) -> tuple[bytes, int, int]:
    """PNG bytes and size of a thumbnail that fits in SIZE x SIZE."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()  # decode now: truncated or corrupt files fail here
            image = ImageOps.exif_transpose(opened)
            image.thumbnail((SIZE, SIZE))
            if image.mode not in ("RGB", "RGBA", "L", "LA"):
                image = image.convert("RGBA")
            out = io.BytesIO()
            image.save(out, "PNG", optimize=True)
            return out.getvalue(), image.width, image.height
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise NotAnImage(f"{type(error).__name__}: {error}") from error


def publish(message: dict[str, Any]) -> None:
    sns.publish(
        TopicArn=TOPIC_ARN,
        Subject=f"thumbnail {message['status']}",
        Message=json.dumps(message),
        MessageAttributes={"status": {"DataType": "String", "StringValue": message["status"]}},
    )


def process(bucket: str, key: str, request_id: str) -> dict[str, Any]:
    source = f"s3://{bucket}/{key}"
    report: dict[str, Any] = {"source": source, "requestId": request_id}
    try:
        data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        logger.warning("%s was deleted before it could be processed", source)
        return {**report, "status": "failed", "error": "NoSuchKey"}
    started = time.perf_counter()
    try:
        png, width, height = thumbnail(data)
    except NotAnImage as error:
        logger.error("not an image: %s (%d bytes): %s", source, len(data), error)
        report.update(status="failed", error=str(error), size=len(data))
        publish(report)
        return report
    target = "thumbnails/" + key[len(PREFIX) :] + ".png"
    s3.put_object(
        Bucket=THUMBNAIL_BUCKET,
        Key=target,
        Body=png,
        ContentType="image/png",
        Metadata={"source": quote(source)},  # metadata travels in headers: ASCII only
    )
    report.update(
        status="ok",
        thumbnail=f"s3://{THUMBNAIL_BUCKET}/{target}",
        width=width,
        height=height,
        bytes=len(png),
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    logger.info("thumbnail %s -> %s (%dx%d)", source, report["thumbnail"], width, height)
    publish(report)
    return report


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    results = []
    for record in event.get("Records", []):
        if not record.get("eventName", "").startswith("ObjectCreated:"):
            continue
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])  # S3 form-encodes keys in events
        if not key.startswith(PREFIX):
            logger.info("ignoring s3://%s/%s: not under %s", bucket, key, PREFIX)
            continue
        results.append(process(bucket, key, context.aws_request_id))
    return {"processed": len(results), "results": results}
