"""File-type detection: magic bytes first, then the declared MIME type, then the file extension."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import PurePath

from .model import ParseError

FORMATS = ("pdf", "docx", "pptx", "xlsx", "html", "markdown", "text")

MIME_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html",
    "markdown": "text/markdown",
    "text": "text/plain",
}

_EXTENSIONS = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".docm": "docx",
    ".dotx": "docx",
    ".pptx": "pptx",
    ".pptm": "pptx",
    ".ppsx": "pptx",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".xltx": "xlsx",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdown": "markdown",
    ".mkd": "markdown",
    ".txt": "text",
    ".text": "text",
    ".csv": "text",
    ".tsv": "text",
    ".log": "text",
    ".rst": "text",
    ".json": "text",
    ".xml": "text",
    ".yaml": "text",
    ".yml": "text",
}

_MIME_HINTS = {
    "application/pdf": "pdf",
    "application/x-pdf": "pdf",
    MIME_TYPES["docx"]: "docx",
    "application/vnd.ms-word.document.macroenabled.12": "docx",
    MIME_TYPES["pptx"]: "pptx",
    "application/vnd.ms-powerpoint.presentation.macroenabled.12": "pptx",
    MIME_TYPES["xlsx"]: "xlsx",
    "application/vnd.ms-excel.sheet.macroenabled.12": "xlsx",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/plain": "text",
    "text/csv": "text",
    "text/tab-separated-values": "text",
    "application/json": "text",
}

# Binary signatures we recognise only to name them in the error message.
_KNOWN_BINARY = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"II*\x00", "TIFF image"),
    (b"MM\x00*", "TIFF image"),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "legacy Microsoft Office file (.doc/.xls/.ppt); save it as .docx/.xlsx/.pptx",
    ),
    (b"{\\rtf", "RTF document"),
    (b"\x1f\x8b", "gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"Rar!\x1a\x07", "RAR archive"),
    (b"\x7fELF", "executable"),
    (b"OggS", "audio/video file"),
    (b"ID3", "MP3 audio"),
    (b"fLaC", "FLAC audio"),
    (b"%!PS", "PostScript file"),
)

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_OOXML_MAIN_PARTS = (
    ("word/document.xml", "docx"),
    ("ppt/presentation.xml", "pptx"),
    ("xl/workbook.xml", "xlsx"),
)
_HTML_RE = re.compile(
    rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S
)


def _hint(filename: str | None, mime_type: str | None) -> str | None:
    if mime_type:
        fmt = _MIME_HINTS.get(mime_type.split(";")[0].strip().lower())
        if fmt:
            return fmt
    if filename:
        return _EXTENSIONS.get(PurePath(filename).suffix.lower())
    return None


def _sniff_binary(head: bytes) -> str | None:
    for magic, name in _KNOWN_BINARY:
        if head.startswith(magic):
            return name
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WebP image"
    if head.startswith(b"RIFF") or head[4:8] == b"ftyp":
        return "audio/video file"
    return None


def _ooxml_kind(data: bytes) -> str | None:
    """'docx'/'pptx'/'xlsx' for an OOXML package, '' for another (or broken) zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        return ""
    if "[Content_Types].xml" in names:
        for part, fmt in _OOXML_MAIN_PARTS:
            if part in names:
                return fmt
    return ""


def sniff_utf16(data: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' for BOM-less UTF-16 text (a NUL in every other byte for mostly-ASCII text)."""
    sample = data[:4096]
    if len(sample) < 4 or len(data) % 2:
        return None
    half = len(sample) / 2
    even_nul, odd_nul = sample[0::2].count(0) / half, sample[1::2].count(0) / half
    if odd_nul > 0.3 and even_nul < 0.05:
        return "utf-16-le"
    if even_nul > 0.3 and odd_nul < 0.05:
        return "utf-16-be"
    return None


def looks_binary(data: bytes) -> bool:
    """True when the data is not text (NUL bytes outside UTF-16/32 text, or many control characters)."""
    sample = data[:8192]
    if sample.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) or sniff_utf16(data):
        return False
    if b"\x00" in sample:
        return True
    if not sample:
        return False
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 27))
    return controls / len(sample) > 0.05


def detect_format(filename: str | None, mime_type: str | None, data: bytes) -> str:
    """Return one of 'pdf', 'docx', 'pptx', 'xlsx', 'html', 'markdown', 'text'.

    Magic bytes are checked before the extension or declared MIME type are trusted; those hints
    only decide between formats the bytes cannot tell apart (e.g. Markdown vs. plain text), or
    name the format a damaged file claims to be so that its parser can report it as damaged.
    """
    if not data:
        raise ParseError("The file is empty.")
    hint = _hint(filename, mime_type)
    head = data[:1024]

    if head.startswith(b"%PDF-") or (b"%PDF-" in head and hint not in ("html", "markdown", "text")):
        return "pdf"
    if head.startswith(_ZIP_MAGIC):
        kind = _ooxml_kind(data)
        if kind:
            return kind
        if hint in ("docx", "pptx", "xlsx"):
            return hint  # damaged package: let its parser explain
        raise ParseError(
            "Unsupported file type: ZIP archive (expected a PDF, Office, HTML, Markdown or text file)."
        )
    if head.startswith(_OLE_MAGIC) and "EncryptedPackage".encode("utf-16-le") in data[:1_000_000]:
        raise ParseError(
            "Unsupported file type: the Office document is password-protected. "
            "Remove the password and upload it again."
        )
    binary = _sniff_binary(head)
    if binary:
        raise ParseError(f"Unsupported file type: {binary}.")
    if hint in ("pdf", "docx", "pptx", "xlsx"):
        return hint  # claims a binary format but the signature is missing: its parser reports it as damaged
    if looks_binary(data):
        raise ParseError("Unsupported file type: the file contains binary data, not text.")
    if hint in ("html", "markdown", "text"):
        return hint
    if _HTML_RE.match(data[:4096]):
        return "html"
    if _looks_like_markdown(data[:65536]):
        return "markdown"
    return "text"


_MD_SIGNALS = (
    re.compile(rb"^#{1,6} \S", re.M),  # ATX heading
    re.compile(rb"^\|.*\|[ \t]*\r?\n\|?[ \t]*:?-{3,}", re.M),  # pipe table
    re.compile(rb"^```", re.M),  # fenced code
)


def _looks_like_markdown(sample: bytes) -> bool:
    return any(pattern.search(sample) for pattern in _MD_SIGNALS)
