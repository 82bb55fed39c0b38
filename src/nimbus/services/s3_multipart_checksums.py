"""Checksums of multipart parts (copied parts, parts sent without the upload's checksum) and
the checks of the checksum headers of CreateMultipartUpload."""

from __future__ import annotations

import base64
import hashlib

from nimbus.errors import InvalidS3Request
from nimbus.protocol import s3_multipart as proto

SUPPORTED = ", ".join(proto.ALGORITHMS)


class Hasher:
    """MD5 (the ETag) plus the checksum algorithms asked for, fed chunk by chunk."""

    def __init__(self, algorithms: set[str]) -> None:
        self.md5 = hashlib.md5()
        self.size = 0
        self._crcs = {a: proto.CRCS[a].init for a in algorithms if a in proto.CRCS}
        self._digests = {a: hashlib.new(a.lower()) for a in algorithms if a not in proto.CRCS}

    def update(self, data: bytes) -> None:
        self.size += len(data)
        self.md5.update(data)
        for name, register in self._crcs.items():
            self._crcs[name] = proto.CRCS[name].update(register, data)
        for digest in self._digests.values():
            digest.update(data)

    def checksum(self, algorithm: str) -> str:
        if algorithm in self._crcs:
            crc = proto.CRCS[algorithm]
            return proto.checksum_b64(algorithm, crc.value(self._crcs[algorithm]))
        return base64.b64encode(self._digests[algorithm].digest()).decode()


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
