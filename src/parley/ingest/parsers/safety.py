"""Zip-bomb guard for OOXML packages, run on the central directory before any library opens the file."""

from __future__ import annotations

import io
import zipfile

from .model import ParseError

MAX_ZIP_MEMBERS = 10_000
# A member may expand at most this many times its compressed size once it is larger than
# RATIO_MIN_BYTES. Real Office XML compresses 5-30x; a run of zeros compresses ~1000x.
MAX_COMPRESSION_RATIO = 200
RATIO_MIN_BYTES = 1024 * 1024


def check_ooxml_package(data: bytes, label: str, max_uncompressed_bytes: int) -> None:
    """Raise ParseError unless ``data`` is a readable zip whose declared sizes are sane.

    The sizes come from the central directory; Python's zipfile (used by python-docx,
    python-pptx and openpyxl) stops reading a member at its declared size, so the check
    bounds what the libraries can inflate.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise ParseError(f"The {label} file is damaged or is not a valid {label} document.") from exc

    if len(members) > MAX_ZIP_MEMBERS:
        raise ParseError(f"The {label} file contains too many parts ({len(members)}) to be processed safely.")
    total = 0
    for info in members:
        size = max(info.file_size, 0)
        total += size
        if size >= RATIO_MIN_BYTES and size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
            raise ParseError(
                f"The {label} file was rejected: it expands to an unreasonable size when unpacked "
                "(possible zip bomb)."
            )
    if total > max_uncompressed_bytes:
        raise ParseError(
            f"The {label} file was rejected: it unpacks to {_human(total)}, more than the "
            f"{_human(max_uncompressed_bytes)} limit."
        )


def _human(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            break
        size /= 1024
    return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
