"""CompleteMultipartUpload's rules (AWS' checks and their order, the object's checksum) and
the part number's range. Pure."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from nimbus.errors import (
    BadDigest,
    EntityTooSmall,
    InvalidArgument,
    InvalidPart,
    InvalidPartOrder,
    InvalidS3Request,
)
from nimbus.protocol import s3_multipart as proto
from nimbus.store.s3_uploads import Part, Upload

INVALID_PART = (
    "One or more of the specified parts could not be found.  The part may not have been "
    "uploaded, or the specified entity tag may not match the part's entity tag."
)


def part_number(text: str) -> int:
    number = proto.parse_int(text)
    if number is None or not 1 <= number <= proto.MAX_PART_NUMBER:
        raise InvalidArgument(
            "Part number must be an integer between 1 and 10000, inclusive",
            ArgumentName="partNumber",
            ArgumentValue=text,
        )
    return number


def chosen_parts(
    upload: Upload, requested: list[proto.RequestedPart], stored: dict[int, Part]
) -> list[Part]:
    """AWS' checks, in AWS' order: ascending numbers, each part there with its ETag (and
    checksum), every part but the last at least 5 MiB."""
    numbers = [p.number for p in requested]
    if any(b <= a for a, b in itertools.pairwise(numbers)):
        raise InvalidPartOrder(UploadId=upload.upload_id)
    algorithm = upload.checksum_algorithm
    chosen: list[Part] = []
    for wanted in requested:
        part = stored.get(wanted.number)
        if part is None or part.etag != wanted.etag:
            raise InvalidPart(
                INVALID_PART,
                UploadId=upload.upload_id,
                PartNumber=str(wanted.number),
                ETag=wanted.etag,
            )
        given = wanted.checksums.get(algorithm) if algorithm else None
        if algorithm and upload.checksum_type == "COMPOSITE" and given is None:
            raise InvalidS3Request(
                f"The upload was created using a {algorithm.lower()} checksum. The complete "
                "request must include the checksum for each part. It was missing for part "
                f"{wanted.number} in the request."
            )
        if given is not None and given != part.checksum:
            raise InvalidPart(
                INVALID_PART,
                UploadId=upload.upload_id,
                PartNumber=str(wanted.number),
                ETag=wanted.etag,
            )
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < proto.MIN_PART_SIZE:
            raise EntityTooSmall(
                "Your proposed upload is smaller than the minimum allowed size",
                ProposedSize=str(part.size),
                MinSizeAllowed=str(proto.MIN_PART_SIZE),
                PartNumber=str(part.number),
                ETag=part.etag,
            )
    return chosen


def object_checksum(
    upload: Upload, parts: list[Part], headers: Mapping[str, str]
) -> tuple[str, str] | None:
    """(algorithm, value) of the completed object: COMPOSITE ("<b64>-N", over the parts'
    checksums) or FULL_OBJECT (the parts' CRCs combined; checked against the header)."""
    algorithm = upload.checksum_algorithm
    if algorithm is None or any(p.checksum is None for p in parts):
        return None
    checksums = [p.checksum for p in parts if p.checksum is not None]
    if upload.checksum_type == "FULL_OBJECT":
        sized = [(c, p.size) for c, p in zip(checksums, parts, strict=True)]
        value = proto.full_object_crc(algorithm, sized)
        given = headers.get(f"x-amz-checksum-{algorithm.lower()}")
        if given is not None and given != value:
            raise BadDigest(f"The {algorithm} you specified did not match the calculated checksum.")
        return algorithm, value
    return algorithm, proto.composite_checksum(algorithm, checksums)
