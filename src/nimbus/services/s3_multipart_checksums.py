"""Checksums of multipart parts (copied parts, parts sent without the upload's checksum) and
the checks of the checksum headers of CreateMultipartUpload."""

from __future__ import annotations

from nimbus.errors import InvalidS3Request
from nimbus.protocol import s3_checksums
from nimbus.protocol import s3_multipart as proto

SUPPORTED = ", ".join(proto.ALGORITHMS)


def hasher(algorithms: set[str]) -> s3_checksums.Digests:
    """MD5 (the ETag) plus the checksum algorithms asked for, fed chunk by chunk."""
    return s3_checksums.Digests(tuple(sorted(algorithms)))


def algorithm_header(value: str | None) -> str | None:
    """x-amz-checksum-algorithm / x-amz-sdk-checksum-algorithm, upper-cased and checked."""
    if value is None or value == "":
        return None
    algorithm = value.upper()
    if algorithm not in proto.ALGORITHMS:
        raise InvalidS3Request(
            "Checksum algorithm provided is unsupported. Please try again with any of the "
            f"valid types: [{SUPPORTED}]"
        )
    return algorithm


def checksum_type(algorithm: str | None, value: str | None) -> str | None:
    """The upload's x-amz-checksum-type: COMPOSITE or FULL_OBJECT, AWS' defaults and rules."""
    if value is not None:
        value = value.upper()
        if value not in ("COMPOSITE", "FULL_OBJECT"):
            raise InvalidS3Request("Value for x-amz-checksum-type header is invalid.")
        if algorithm is None:
            raise InvalidS3Request(
                "The x-amz-checksum-type header can only be used with the "
                "x-amz-checksum-algorithm header."
            )
    if algorithm is None:
        return None
    if value is None:
        return "FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE"
    if value == "FULL_OBJECT" and algorithm not in proto.CRC_ALGORITHMS:
        raise InvalidS3Request(
            f"The FULL_OBJECT checksum type cannot be used with the {algorithm.lower()} "
            "checksum algorithm."
        )
    if value == "COMPOSITE" and algorithm == "CRC64NVME":
        raise InvalidS3Request(
            "The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm."
        )
    return value
