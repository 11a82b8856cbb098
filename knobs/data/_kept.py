"""Uploaded tables kept on disk under their content hash, so a browser reload finds them again.

A dashboard session lives as long as its browser tab: a reload starts a new one, which used to
fall back to the bundled sample without a word, losing the user's upload. The app keeps each
upload here and puts its hash in the page's URL; a new session reads it back. The hash is the
key (24 hex digits: nobody finds another user's table by guessing), and only the newest
``KEEP_UPLOADS`` are kept.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

from knobs.data._ingest import check_upload_size

#: Uploads kept at most; older ones are removed when a new one is kept.
KEEP_UPLOADS = 20
_TOKEN = re.compile(r"[0-9a-f]{24}")


def upload_token(content: bytes) -> str:
    """The key an upload is kept under: a hash of its bytes."""
    return hashlib.blake2b(content, digest_size=12).hexdigest()


def _uploads_dir() -> Path:
    from knobs.study import knobs_home

    return knobs_home() / "uploads"


def keep_upload(name: str, content: bytes) -> str:
    """Keep an uploaded table under its hash (once) and return the hash. An upload over the
    limit is refused (DataError, :func:`~knobs.data.check_upload_size`) before a byte of it is
    written: the reader would refuse it anyway, and the disk is no place for what Knobs refused."""
    check_upload_size(name, len(content))
    token = upload_token(content)
    folder = _uploads_dir() / token
    safe = Path(name).name or "upload.csv"
    if not (folder / safe).exists():
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{safe}.part"
        partial.write_bytes(content)
        partial.replace(folder / safe)
    folder.touch()
    kept = sorted(_uploads_dir().iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in kept[KEEP_UPLOADS:]:
        shutil.rmtree(old, ignore_errors=True)
    return token


def kept_upload(token: str) -> tuple[str, bytes] | None:
    """The name and bytes kept under ``token``; None when unknown, removed or malformed."""
    if not _TOKEN.fullmatch(token or ""):
        return None
    folder = _uploads_dir() / token
    files = [p for p in folder.glob("*") if p.is_file() and not p.name.startswith(".")]
    if len(files) != 1:
        return None
    content = files[0].read_bytes()
    return (files[0].name, content) if upload_token(content) == token else None
