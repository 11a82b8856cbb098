"""Bytes in, :class:`RawTable` out, or a :class:`DataError` that says what is wrong and where.

Reading is a chain of small steps (size, magic bytes, decoding, delimiter, structure, pandas). Each
step can name its own failure precisely, so pandas is only handed text whose shape we have already
checked: its silent repairs (renaming duplicate headers, turning the first column into an index when
rows are one field too long, padding short rows) never happen, and its messages never reach a user.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import charset_normalizer
import numpy as np
import pandas as pd

from knobs.errors import ConfigError, DataError
from knobs.formatting import plural
from knobs.portable import (
    CSV_DATES,
    ZERO_LED,
    column_names,
    fullest_sheet,
    records_frame,
    sheet_as_csv,
)

MIN_ROWS = 20
DEFAULT_MAX_UPLOAD_MB = 200.0
DELIMITERS = (",", ";", "\t", "|")
#: File name endings an upload box takes: delimited text, or it gzipped or in a zip archive;
#: workbooks; Parquet and Arrow files; JSON records and JSON lines.
TABLE_FILE_TYPES = (
    "csv", "tsv", "txt", "gz", "zip", "xlsx", "xlsm", "xls", "ods", "parquet", "feather", "arrow",
    "json", "jsonl", "ndjson",
)  # fmt: skip
#: What one cell of a spreadsheet's totals row reads ("Total", "Grand total:", "Sum", ...).
_SUMMARY_WORD = re.compile(r"(?:grand\s+|sub-?)?totals?|sum|average|mean", re.IGNORECASE)

_DELIMITER_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "pipes"}
_SNIFF_CHARS = 64 * 1024
_SNIFF_RECORDS = 50

# Legacy single-byte encodings that charset-normalizer proposes for Western European text. On short
# files it often ranks an exotic cousin first (mac_latin2, cp775...), so when any of these is among
# its candidates we decode as cp1252, the encoding Excel on Windows actually writes.
_WESTERN = {
    "cp1252", "latin_1", "iso8859_15", "iso8859_1", "cp1250", "cp1257", "mac_latin2", "cp775",
    "iso8859_2", "iso8859_4", "iso8859_10", "iso8859_13", "iso8859_14", "iso8859_16", "mac_roman",
    "cp850", "cp858", "cp437", "ascii",
}

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

_SAVE_AS_CSV = "Export the table as CSV (comma or semicolon separated, UTF-8) and upload that file."
_MAGIC = (
    (b"%PDF", "a PDF document", _SAVE_AS_CSV),
    (b"BZh", "a bzip2-compressed file", "Decompress it first and upload the CSV inside."),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "Extract it first and upload the CSV inside."),
    (b"SQLite format 3\x00", "an SQLite database", _SAVE_AS_CSV),
    (b"\x89PNG", "a PNG image", _SAVE_AS_CSV),
    (b"\xff\xd8\xff", "a JPEG image", _SAVE_AS_CSV),
    (b"GIF8", "a GIF image", _SAVE_AS_CSV),
)


@dataclass(frozen=True, eq=False)
class RawTable:
    """A parsed table before any cleaning, with the reading choices said in words.

    ``eq=False``: two tables compare by identity, because comparing DataFrames with ``==`` is
    element-wise and cannot give a single truth value.
    """

    frame: pd.DataFrame
    encoding: str
    delimiter: str
    decimal: str
    notices: tuple[str, ...]
    #: What the file was before it became CSV text ("csv", "workbook", "parquet", "feather",
    #: "json", "jsonl"), the workbook's sheet that was read, and the lines skipped above the
    #: header (a title, Excel's `sep=` line).
    form: str = "csv"
    sheet: str = ""
    skip_lines: int = 0

    @property
    def reading(self) -> dict[str, str]:
        """How the file was read, for whatever reads it again (an export's train.py)."""
        extra = {"format": self.form} if self.form != "csv" else {}
        if self.sheet:
            extra["sheet"] = self.sheet
        if self.skip_lines:
            extra["skip_lines"] = str(self.skip_lines)
        return {"delimiter": self.delimiter, "decimal": self.decimal,
                "encoding": self.encoding.lower(), **extra}  # fmt: skip


def read_table(source: str | os.PathLike[str] | bytes | BinaryIO, *,
               name: str = "data", min_rows: int = MIN_ROWS) -> RawTable:
    """Parse a delimited text table from a path, bytes or a binary file object.

    Refuses, with a :class:`DataError` naming the line or column, anything a user could mistake for
    a table but that pandas would misread silently or fail on with an unhelpful message.
    """
    data, name = _read_bytes(source, name)
    if not data or data.isspace():
        raise DataError(f"`{name}` is empty: it contains no header and no rows. Upload a CSV file "
                        "whose first line names the columns.")
    data, unpacked, source = _unpack(data, name)
    _refuse_known_binary(data, name)
    text, encoding, notices = _decode(data, name)
    del data
    notices[:0] = unpacked
    if not text or text.isspace():
        raise DataError(f"`{name}` is empty: it contains no header and no rows. Upload a CSV file "
                        "whose first line names the columns.")
    was_json = _looks_like_json(text)
    if was_json:
        text, said, form = _json_as_text(text, name)
        notices.extend(said)
        source = {"form": form}
    _refuse_non_table_text(text, name)
    if "\r" in text:  # Windows and old Mac line ends; the csv module wants plain "\n"
        text = text.replace("\r\n", "\n").replace("\r", "\n")

    offset = 0  # physical lines removed from the top, so messages keep the file's own numbering
    forced = re.match(r"sep=([,;\t|])[ ]*\n", text[:16])  # Excel's hint line
    if forced:
        delimiter = forced.group(1)
        text = text[forced.end():]
        offset = 1
        notices.append(f"Columns are separated by {_DELIMITER_NAMES[delimiter]}, as the first "
                       "line (`sep=`) declares.")
    else:
        skipped = _title_lines(text)
        if skipped:
            lines = text.split("\n", len(skipped))
            text, offset = lines[len(skipped)] if len(lines) > len(skipped) else "", len(skipped)
            # a workbook's title row comes through its CSV text with the empty cells' separators
            titled = [_preview(t.rstrip(" ,;\t|")) for t in skipped if t.strip(" ,;\t|\"")]
            notices.append(
                f"Skipped {plural(len(skipped), 'line')} above the header"
                + (f" ({', '.join(titled)})" if titled else "")
                + ": a title, not part of the table."
            )
        # rows to predict (min_rows 1) may hold the one column a model uses, or too few: the
        # schema check then names what is missing, not "a table to learn from needs two"
        delimiter = _sniff_delimiter(text, name, one_column=min_rows == 1)
        if delimiter != ",":
            notices.append(f"Columns are separated by {_DELIMITER_NAMES[delimiter]}.")

    text, comments = _blank_comment_lines(text, delimiter)
    if comments:
        count, first, line = comments
        notices.append(f"Skipped {plural(count, 'comment line')} starting with `#` (first at "
                       f"line {first + offset}: {_preview(line)}).")
    header, n_rows, trailing, multiline = _check_structure(text, delimiter, name, offset)
    names, name_notices = _column_names(header, name)
    notices.extend(name_notices)
    if n_rows == 0:
        raise DataError(f"`{name}` has a header ({_preview(delimiter.join(header))}) but no data "
                        "rows. Add rows below the header line.")
    if n_rows < min_rows:  # min_rows: 1 when scoring new rows (knobs predict), not training
        raise DataError(f"`{name}` has only {n_rows} data row{'s' * (n_rows != 1)}; Knobs needs "
                        f"at least {min_rows} rows to train and validate a model. Add more rows.")
    if multiline and not was_json:  # a JSON string with line breaks is no quoting accident
        count, first = multiline
        notices.append(f"{count} row{'s' * (count > 1)} ha{'ve' if count > 1 else 's'} a quoted "
                       f"value spanning several lines (first at line {first}); if that is not "
                       "intended, check the quotes there.")
    if trailing:
        notices.append("Every data row ended with an extra empty field (a trailing separator); "
                       "ignored it.")

    decimal = _sniff_decimal(text, delimiter)
    if decimal == ",":
        notices.append("Read `,` as the decimal mark (values such as `1,5`).")
    frame = _parse(text, delimiter, decimal, names, trailing, name, offset)
    if min_rows > 1:  # a table to learn from; rows to predict are all kept, one per input row
        frame = _drop_repeated_headers(frame, header, notices)
        frame = _drop_summary_rows(frame, notices)
    return RawTable(frame=frame, encoding=encoding, delimiter=delimiter, decimal=decimal,
                    notices=tuple(notices), skip_lines=offset, **source)


# --- bytes -----------------------------------------------------------------------------------


def _max_bytes() -> int:
    raw = os.environ.get("KNOBS_MAX_UPLOAD_MB", "")
    if not raw.strip():
        return int(DEFAULT_MAX_UPLOAD_MB * 1024 * 1024)
    try:
        mb = float(raw)
    except ValueError:
        mb = -1.0
    if not mb > 0:
        raise ConfigError("KNOBS_MAX_UPLOAD_MB must be a positive number of megabytes, "
                          f"got {raw!r}.")
    return int(mb * 1024 * 1024)


def upload_limit_words() -> str | None:
    """The largest file Knobs reads, as its refusals word it ("200.0 MB"), for an upload box to
    state; None when ``KNOBS_MAX_UPLOAD_MB`` is malformed (reading a table then says so)."""
    try:
        return size_words(_max_bytes())
    except ConfigError:
        return None


def size_words(n: int) -> str:
    """A file size as every Knobs message gives it (MB of 1024 KB, as the upload limit)."""
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.1f} KB"


def check_upload_size(name: str, size: int) -> None:
    """Refuse a file of ``size`` bytes over the upload limit (``KNOBS_MAX_UPLOAD_MB``) in the
    words :func:`read_table` refuses it with, before anything is done with its bytes: a 219 MB
    upload was written to disk (``keep_upload``) and only then refused by the reader. Raises
    DataError, or ConfigError when the setting is malformed."""
    limit = _max_bytes()
    if size > limit:
        raise _too_big(name, size, limit)


def _too_big(name: str, size: int, limit: int) -> DataError:
    return DataError(
        f"`{name}` is {size_words(size)}, more than the {size_words(limit)} limit. Use a sample of the "
        "rows, or raise the limit with the KNOBS_MAX_UPLOAD_MB setting."
    )


def _read_bytes(source: object, name: str) -> tuple[bytes, str]:
    limit = _max_bytes()
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        if name == "data":
            name = path.name
        try:
            if path.is_dir():
                raise DataError(f"`{path}` is a folder, not a file. Choose the CSV file inside it.")
            size = path.stat().st_size
            if size > limit:
                raise _too_big(name, size, limit)
            data = path.read_bytes()
        except FileNotFoundError:
            raise DataError(f"File `{path}` does not exist. Check the path and try again."
                            ) from None
        except OSError as exc:
            raise DataError(f"File `{path}` cannot be read ({exc.strerror or exc}). Check that it "
                            "exists and that you may read it.") from None
    elif hasattr(source, "read"):
        if name == "data" and isinstance(getattr(source, "name", None), str):
            name = Path(source.name).name or name  # type: ignore[attr-defined]
        data = source.read(limit + 1)  # type: ignore[attr-defined]
        if isinstance(data, str):
            raise TypeError("read_table needs a binary file object (open the file with 'rb').")
        data = bytes(data)
    else:
        raise TypeError(f"read_table reads a path, bytes or a binary file object, "
                        f"not {type(source).__name__}.")
    if len(data) > limit:
        raise _too_big(name, len(data), limit)
    return data, name


#: File names a zip archive's table may have (the rest, and macOS's metadata, are ignored).
_TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".json", ".jsonl", ".ndjson")


def _is_workbook(data: bytes) -> bool:
    if data.startswith(_OLE_MAGIC):
        return True
    head = data[:65536]
    return data.startswith(b"PK\x03\x04") and (b"xl/" in head or b"opendocument.spreadsheet" in head)


#: An old Excel workbook (.xls) starts with these bytes (an OLE compound file).
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _workbook_as_text(data: bytes, name: str) -> tuple[bytes, list[str], dict[str, str]]:
    """A workbook's (.xlsx, .xls, .ods) sheet with the most filled cells, as CSV text for the
    reader, with a notice naming it: users bring spreadsheets, and "Save As CSV" was one more
    step before a first search. Read by calamine (pandas' reader for all three formats)."""
    try:
        sheets = pd.read_excel(io.BytesIO(data), sheet_name=None, header=None, engine="calamine")
    except Exception as exc:  # calamine raises its own errors for damaged files
        raise DataError(f"`{name}` looks like a spreadsheet workbook but cannot be read "
                        f"({type(exc).__name__}: {str(exc)[:120]}). Open it in Excel and use "
                        "File > Save As > 'CSV UTF-8', then upload the .csv file.") from None
    title = fullest_sheet(sheets) if sheets else None
    if title is None or not sheets[title].notna().to_numpy().any():
        raise DataError(f"`{name}` is a workbook with no filled cells. Put the table in its first "
                        "sheet, with the column names in the first row.")
    text = sheet_as_csv(sheets[title])
    others = [f"`{t}`" for t in sheets if t != title]
    why = f" (the one with the most filled cells; also there: {', '.join(others)})" if others else ""
    notices = [f"Read sheet `{title}` of the workbook `{name}`{why}."]
    return text.encode("utf-8"), notices, {"form": "workbook", "sheet": str(title)}


def _columnar_as_text(data: bytes, name: str) -> tuple[bytes, list[str], dict[str, str]]:
    """A Parquet or Arrow/Feather file as CSV text for the reader (pyarrow reads both): its
    column types are read again as a CSV's are, so every table is profiled one way."""
    kind = "Parquet" if data.startswith(b"PAR1") else "Arrow/Feather"
    try:
        reader = pd.read_parquet if kind == "Parquet" else pd.read_feather
        frame = reader(io.BytesIO(data))
    except Exception as exc:  # pyarrow's errors for a damaged or cut file
        raise DataError(f"`{name}` looks like a {kind} file but cannot be read "
                        f"({type(exc).__name__}: {str(exc)[:120]}). Write it again, or save the "
                        "table as CSV.") from None
    text = frame.to_csv(index=False, date_format=CSV_DATES)
    form = "parquet" if kind == "Parquet" else "feather"
    return text.encode("utf-8"), [f"Read `{name}` as a {kind} file."], {"form": form}


def _unpack(data: bytes, name: str) -> tuple[bytes, list[str], dict[str, str]]:
    """The table inside a gzip file or a zip archive holding one table, as downloads often come
    (`train.csv.gz`, a Kaggle `.zip`), or a workbook's largest sheet, with a notice saying so;
    other bytes as they are. The unpacked size keeps the upload limit, so a small archive cannot
    fill the memory."""
    limit = _max_bytes()
    convert = (_workbook_as_text if _is_workbook(data)
               else _columnar_as_text if data.startswith((b"PAR1", b"ARROW1")) else None)  # fmt: skip
    if convert is not None:
        text, notices, source = convert(data, name)
        if len(text) > limit:  # a compressed sheet or Parquet file can be 10x its file's size
            raise DataError(f"`{name}` holds a table of {size_words(len(text))} as CSV text, more "
                            f"than the {size_words(limit)} limit. Use a sample of the rows, or "
                            "raise the limit with the KNOBS_MAX_UPLOAD_MB setting.")
        return text, notices, source
    if data.startswith(b"\x1f\x8b"):
        inflate = zlib.decompressobj(zlib.MAX_WBITS | 16)
        try:
            out = inflate.decompress(data, limit + 1)
        except zlib.error:
            raise DataError(f"`{name}` is a gzip file that cannot be decompressed (it is damaged "
                            "or cut short). Download it again, or upload the CSV itself.") from None
        if len(out) > limit:
            raise DataError(f"`{name}` decompresses to more than the {size_words(limit)} limit. Use "
                            "a sample of the rows, or raise the limit with the KNOBS_MAX_UPLOAD_MB "
                            "setting.")
        return out, [f"Decompressed `{name}` (gzip)."], {}
    if not data.startswith(b"PK\x03\x04"):
        return data, [], {}
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [m for m in archive.infolist() if not m.is_dir()
                   and not m.filename.startswith("__MACOSX/")
                   and m.filename.lower().endswith(_TABLE_SUFFIXES)]  # fmt: skip
    except zipfile.BadZipFile:
        return data, [], {}  # said as a damaged archive or workbook below
    if len(members) != 1:
        return data, [] if not members else _many_tables(name, [m.filename for m in members]), {}
    member = members[0]
    if member.file_size > limit:
        raise _too_big(f"{member.filename} in {name}", member.file_size, limit)
    try:
        with archive.open(member) as f:
            out = f.read(limit + 1)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError) as exc:
        raise DataError(f"`{member.filename}` in `{name}` cannot be extracted ({exc}). Extract it "
                        "yourself and upload the CSV.") from None
    return out, [f"Read `{member.filename}` from the zip archive `{name}`."], {}


def _many_tables(name: str, files: list[str]) -> list[str]:
    shown = ", ".join(f"`{f}`" for f in files[:5]) + (", …" if len(files) > 5 else "")
    raise DataError(f"The zip archive `{name}` holds {len(files)} tables ({shown}): Knobs reads one "
                    "table at a time. Extract the one to train on and upload it.")


def _refuse_known_binary(data: bytes, name: str) -> None:
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        # a readable workbook was read as its largest sheet (``_workbook_as_text``)
        if name.lower().endswith((".xlsx", ".xlsm", ".ods")):
            what, fix = ("a damaged Excel workbook (.xlsx)",
                         "Open it in Excel and use File > Save As > 'CSV UTF-8', then upload the "
                         ".csv file.")
        else:
            what, fix = "a zip archive with no table inside", ("Extract it and upload "
                                                                "the CSV you want to train on.")
        raise DataError(f"`{name}` is not a CSV text file: its bytes look like {what}. {fix}")
    for magic, what, fix in _MAGIC:
        if data.startswith(magic):
            raise DataError(f"`{name}` is not a CSV text file: its bytes look like {what}. {fix}")


def _line_of(data: bytes | str, pos: int) -> int:
    newline = b"\n" if isinstance(data, bytes) else "\n"
    return data.count(newline, 0, pos) + 1  # type: ignore[arg-type]


def _binary_error(name: str, line: int) -> DataError:
    return DataError(f"`{name}` is not a text table: line {line} contains NUL or other control "
                     "bytes, which CSV text never has (it looks like a binary file). "
                     f"{_SAVE_AS_CSV}")


# --- decoding --------------------------------------------------------------------------------


def _decode(data: bytes, name: str) -> tuple[str, str, list[str]]:
    """Decode strictly: BOM, then UTF-16 without BOM, then UTF-8, then a guessed legacy encoding.

    Strict UTF-8 comes before any guessing because a valid UTF-8 file is almost never anything
    else, while guessers misjudge short files.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError as exc:
                label = "UTF-8" if encoding == "utf-8-sig" else encoding.upper()
                # utf-8-sig counts from after its BOM; the UTF-16/32 codecs count from the start
                at = exc.start + (len(bom) if encoding == "utf-8-sig" else 0)
                raise DataError(
                    f"`{name}` starts with a {label} byte order mark but byte {at} (line "
                    f"{_line_of(data, at)}) is not valid {label}. Save the file again as UTF-8 and "
                    "upload it."
                ) from None
            text = text.removeprefix("\ufeff")
            _refuse_control_chars(text, name)
            said = f"Decoded the file as {encoding.upper()}."
            notices = [] if encoding == "utf-8-sig" else [said]
            return text, encoding, notices

    head = data[:4096]
    if b"\x00" in head:
        encoding = _utf16_without_bom(head)
        if encoding is None:
            raise _binary_error(name, _line_of(data, data.index(b"\x00")))
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            raise _binary_error(name, _line_of(data, data.index(b"\x00"))) from None
        _refuse_control_chars(text, name)
        return text, encoding, [
            f"Decoded the file as {encoding.upper()} (it has no byte order mark)."
        ]

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    else:
        _refuse_control_chars(text, name)
        return text, "utf-8", []

    encoding = _guess_legacy(data, first_bad, name)
    text = data.decode(encoding)
    _refuse_control_chars(text, name)
    return text, encoding, [
        f"Decoded the file as {encoding} because it is not valid UTF-8 (first at line "
        f"{_line_of(data, first_bad)}); check that accented letters look right."
    ]


def _utf16_without_bom(head: bytes) -> str | None:
    even = head[0::2]
    odd = head[1::2]
    if not even or not odd:
        return None
    zero_even = even.count(0) / len(even)
    zero_odd = odd.count(0) / len(odd)
    if zero_odd > 0.3 and zero_even < 0.05:
        return "utf-16-le"
    if zero_even > 0.3 and zero_odd < 0.05:
        return "utf-16-be"
    return None


def _guess_legacy(data: bytes, first_bad: int, name: str) -> str:
    # charset-normalizer only sees a sample (the start plus the first non-UTF-8 spot): it is a
    # fallback, and on a 200 MB upload a full scan would cost seconds.
    sample = data[:_SNIFF_CHARS]
    if first_bad > _SNIFF_CHARS - 512:
        sample += b"\n" + data[max(0, first_bad - 4096):first_bad + 4096]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            matches = charset_normalizer.from_bytes(sample)
        candidates = [m.encoding for m in matches]
    except Exception:  # a guesser failure must not become the user's problem
        candidates = []
    if not candidates or any(c in _WESTERN for c in candidates):
        order = ["cp1252", "latin-1"] if candidates else ["cp1252"]
    else:
        order = [candidates[0], "cp1252"]
    for encoding in order:
        try:
            data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        return encoding
    byte = data[first_bad]
    raise DataError(
        f"`{name}` is not valid UTF-8 and Knobs could not recognise its encoding: line "
        f"{_line_of(data, first_bad)} has the byte 0x{byte:02X}. Save the file as UTF-8 (in Excel: "
        "Save As > 'CSV UTF-8') and upload it again."
    )


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _refuse_control_chars(text: str, name: str) -> None:
    nul = text.find("\x00")
    if nul >= 0:
        raise _binary_error(name, _line_of(text, nul))
    head = text[:_SNIFF_CHARS]
    hits = _CONTROL.findall(head)
    if len(hits) > max(4, 0.01 * len(head)):
        first = _CONTROL.search(head)
        raise _binary_error(name, _line_of(text, first.start() if first else 0))


_MARKUP = re.compile(r"<[!?/]?[a-z][^>\n]*>")


def _refuse_non_table_text(text: str, name: str) -> None:
    head = text[:4096].lstrip().lower()
    if head.startswith(("<!doctype html", "<html", "<head", "<body")) or (
        head.startswith("<") and "<html" in head
    ):
        raise DataError(f"`{name}` is not a CSV file: it looks like an HTML web page (a download "
                        "link often saves the page instead of the file). Download the CSV itself "
                        "and upload that.")
    if _MARKUP.match(head):
        raise DataError(f"`{name}` is not a CSV file: it looks like XML or markup. {_SAVE_AS_CSV}")


def _json_records(text: str, name: str) -> tuple[list[object], str]:
    """The records of a JSON document (an array of objects, or an object of columns) or of JSON
    lines (one object per line, as logs and APIs write them), and which of the two it was. A
    line that is not JSON is named, as a CSV's broken line is."""
    try:
        whole = json.loads(text)
    except ValueError:
        whole = None
    else:
        if isinstance(whole, dict) and whole and all(
            isinstance(v, list | dict) for v in whole.values()
        ):  # {"a": [1, 2], "b": [3, 4]}: pandas' columns layout
            return pd.DataFrame(whole).to_dict("records"), "JSON"
        if isinstance(whole, list):
            return whole, "JSON"
        raise DataError(f"`{name}` is a JSON document but not a table: it holds "
                        f"{_json_kind(whole)}, not a list of records. Write one object per row (a "
                        "JSON array of objects, or one object per line).")
    records: list[object] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError as exc:
            raise DataError(f"`{name}` looks like JSON lines (one object per line), but line "
                            f"{number} is not valid JSON ({exc.msg}: {_preview(line)}). Fix or "
                            "remove that line.") from None
    return records, "JSON lines"


def _json_kind(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return "null" if value is None else "a number" if not isinstance(value, bool) else "true/false"


def _json_as_text(text: str, name: str) -> tuple[str, list[str], str]:
    """A JSON table as CSV text for the reader, so its values are profiled as a CSV's are. Nested
    objects become dotted columns (`address.city`, pandas' `json_normalize`); lists in a cell
    are kept as their JSON text, and said."""
    records, kind = _json_records(text, name)
    bad = next((i for i, r in enumerate(records) if not isinstance(r, dict)), None)
    if bad is not None:
        where = f"line {bad + 1}" if kind == "JSON lines" else f"item {bad + 1} of the array"
        raise DataError(f"`{name}` is {kind}, but {where} is {_json_kind(records[bad])}, "
                        "not an object of column values. Write every row as an object, such as "
                        '{"age": 41, "city": "Oslo"}.')
    frame, listed = records_frame(records)
    notices = [f"Read `{name}` as {kind}: {plural(len(frame), 'record')}, "
               f"{plural(frame.shape[1], 'column')}."]
    if any("." in str(c) for c in frame.columns) and any(
        isinstance(v, dict) for r in records[:1000] for v in r.values()  # type: ignore[union-attr]
    ):
        notices.append("Nested objects became one column per field, named `parent.field`.")
    if listed:
        notices.append(f"Column{'s' * (len(listed) > 1)} {', '.join(f'`{c}`' for c in listed)} "
                       f"hold{'s' * (len(listed) == 1)} lists; each list was kept as its JSON text (one category per "
                       "distinct list).")
    return frame.to_csv(index=False), notices, "jsonl" if kind == "JSON lines" else "json"


def _looks_like_json(text: str) -> bool:
    """A JSON document or JSON lines; a CSV header that merely starts with a bracket is not."""
    head = text[:4096].lstrip()
    if not head or head[0] not in "[{":
        return False
    if len(text) <= 1_000_000:
        try:
            json.loads(text)
        except ValueError:
            pass
        else:
            return True
    rest = head[1:].lstrip()
    if rest.startswith("{"):  # an array of records
        rest = rest[1:].lstrip()
    return rest.startswith('"') and re.match(r'"[^"\n]*"\s*:', rest) is not None


# --- delimiter, decimal mark -----------------------------------------------------------------


def _sample(text: str) -> str:
    if len(text) <= _SNIFF_CHARS:
        return text
    cut = text.rfind("\n", 0, _SNIFF_CHARS)
    return text[: cut + 1] if cut > 0 else text[:_SNIFF_CHARS]


def _is_blank(record: list[str]) -> bool:
    return not record or (len(record) == 1 and not record[0].strip())


def _first_records(sample: str, delimiter: str, limit: int) -> list[list[str]]:
    records: list[list[str]] = []
    try:
        for record in csv.reader(io.StringIO(sample), delimiter=delimiter):
            if _is_blank(record):
                continue
            records.append(record)
            if len(records) >= limit:
                break
    except csv.Error:
        pass
    return records


#: Lines above a header a report export may carry (a title, a date, blank lines).
MAX_TITLE_LINES = 10
#: Rows that must agree on the header's width below it for the header to be taken as found.
_AGREEING_ROWS = 5


def _title_lines(text: str) -> list[str]:
    """The lines above the header of a report export ("Sales report", "Q3, 2026"): the header is
    the first line with two values or more that the lines below it agree with on the column
    count, and each line above holds at most one value, or is shorter than the header and holds
    at most half as many values. None when the first line is the header. Such a file was refused
    as "a single column, named `Sales report`"."""
    lines = text.split("\n", MAX_TITLE_LINES + _AGREEING_ROWS + 1)[: MAX_TITLE_LINES + _AGREEING_ROWS]

    def fields(line: str, delimiter: str) -> list[str]:
        return next(csv.reader([line], delimiter=delimiter), [])

    def values(line: str, delimiter: str) -> int:
        return len([f for f in fields(line, delimiter) if f.strip()])

    def is_title(line: str, header: list[str], delimiter: str) -> bool:
        """A title under any separator (one value), or a short line of few values under the
        header's: `a,b` above rows of three stays a header one field short, refused as such."""
        most = max(values(line, d) for d in DELIMITERS)
        return most <= 1 or (len(fields(line, delimiter)) < len(header)
                             and most <= len(header) // 2)  # fmt: skip

    for start in range(1, min(MAX_TITLE_LINES, len(lines) - 1) + 1):
        for delimiter in DELIMITERS:
            header = fields(lines[start], delimiter)
            if len(header) < 2 or sum(1 for f in header if f.strip()) < 2:
                continue
            if not all(is_title(line, header, delimiter) for line in lines[:start]):
                continue
            # the records below, read as the delimiter sniffer reads them (blank ones skipped)
            below = _first_records("\n".join(lines[start + 1:]), delimiter, _AGREEING_ROWS)
            if below and sum(len(r) == len(header) for r in below) >= 0.8 * len(below):
                return lines[:start]
    return []


def _sniff_delimiter(text: str, name: str, *, one_column: bool = False) -> str:
    """Pick the delimiter whose first records agree on a column count greater than one.

    csv.Sniffer guesses from character frequencies and is easily fooled by decimal commas or
    punctuation in text; agreement of the field count with the header is what a table means.
    """
    sample = _sample(text)
    best: tuple[float, int, int] | None = None
    chosen = ""
    for rank, delimiter in enumerate(DELIMITERS):
        records = _first_records(sample, delimiter, _SNIFF_RECORDS)
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        body = records[1:] or records
        agreement = sum(len(r) == width for r in body) / len(body)
        key = (agreement, width, -rank)
        if best is None or key > best:
            best, chosen = key, delimiter
    if not chosen and one_column:
        return ","
    if not chosen:
        first = sample.splitlines()[0] if sample.splitlines() else ""
        raise DataError(
            f"`{name}` has a single column, named {_preview(first)}: Knobs found no comma, "
            "semicolon, tab or pipe separating columns. A table to learn from needs a column to "
            "predict and at least one other; if yours has several, save it as CSV with one of "
            "these separators."
        )
    return chosen


_COMMA_DECIMAL = re.compile(r"\s*[-+]?\d+,\d+\s*")
_DOT_DECIMAL = re.compile(r"\s*[-+]?\d*\.\d+\s*")


def _sniff_decimal(text: str, delimiter: str) -> str:
    if delimiter == ",":
        return "."
    comma = dot = 0
    for record in _first_records(_sample(text), delimiter, 200)[1:]:
        for field in record:
            if _COMMA_DECIMAL.fullmatch(field):
                comma += 1
            elif _DOT_DECIMAL.fullmatch(field):
                dot += 1
    return "," if comma > dot else "."


# --- structure -------------------------------------------------------------------------------


def _preview(value: str, width: int = 60) -> str:
    value = value.replace("\r", "").replace("\n", "\\n")
    return f"`{value[:width]}…`" if len(value) > width else f"`{value}`"


_COMMENT_LINE = re.compile(r"^[ \t]*#[^\n]*", re.MULTILINE)


def _blank_comment_lines(text: str, delimiter: str) -> tuple[str, tuple[int, int, str] | None]:
    """Lines below the header that start with `#` and are shorter than it, blanked (so line
    numbers keep), with (count, first line, its text). A legacy export's "# page break" line
    was refused as a row of 1 field "(check for an unquoted delimiter or a missing quote)"."""
    width = len(next(csv.reader([text.split("\n", 1)[0]], delimiter=delimiter), []))
    spans = [m.span() for m in _COMMENT_LINE.finditer(text) if m.start() > 0
             and len(next(csv.reader([m.group()], delimiter=delimiter), [])) < width]  # fmt: skip
    if not spans:
        return text, None
    first = text[spans[0][0]:spans[0][1]]
    line = text.count("\n", 0, spans[0][0]) + 1
    parts, at = [], 0
    for begin, end in spans:
        parts.append(text[at:begin])
        at = end
    parts.append(text[at:])
    return "".join(parts), (len(spans), line, first)


def _check_structure(text: str, delimiter: str, name: str, offset: int
                     ) -> tuple[list[str], int, bool, tuple[int, int] | None]:
    """Walk every record once with the csv module; return the header, the row count, whether
    every row carries one extra empty trailing field, and (count, first line) of rows spanning
    several lines (a stray quote that happens to close later looks exactly like that).

    pandas pads short rows and turns one-field-too-long rows into an index without a word, so the
    shape is checked here, where the physical line of each record is known.
    """
    total_lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header: list[str] | None = None
    width = 0
    n_rows = 0
    all_extra_empty = True  # every row so far has one extra, empty, trailing field
    start = 1
    bad: tuple[int, int, list[str]] | None = None
    n_bad, bad_lines = 0, []  # every ragged row, counted, the first few by line
    multiline_count, multiline_first = 0, 0
    try:
        for record in reader:
            end = reader.line_num
            if _is_blank(record):
                start = end + 1
                continue
            if header is None:
                header, width = record, len(record)
            else:
                n_rows += 1
                if end > start:
                    multiline_count += 1
                    multiline_first = multiline_first or start + offset
                if len(record) != width:
                    bad = bad or (start, end, record)
                    n_bad += 1
                    if len(bad_lines) < 5:
                        bad_lines.append(start + offset)
                all_extra_empty = all_extra_empty and (
                    len(record) == width + 1 and not record[-1].strip()
                )
                if bad is not None and not all_extra_empty and n_bad > 100:
                    break  # enough to say "over 100"
            start = end + 1
    except csv.Error:
        raise DataError(
            f"Line {start + offset} of `{name}` opens a quoted field (`\"`) that is never closed: "
            "the rest of the file was read into one cell. Add the missing quote, or remove the "
            "stray one."
        ) from None
    if header is None:
        raise DataError(f"`{name}` is empty: it contains no header and no rows.")
    trailing = bad is not None and all_extra_empty
    if bad is not None and not trailing:
        first, last, record = bad
        spans = last > first and any("\n" in field for field in record)
        if spans and last >= total_lines:
            raise DataError(
                f"Line {first + offset} of `{name}` opens a quoted field (`\"`) that is never "
                "closed, so the rest of the file was read into one cell. Add the missing quote, or "
                "remove the stray one."
            )
        if spans:
            raise DataError(
                f"Line {first + offset} of `{name}` opens a quoted field (`\"`) that only closes "
                f"on line {last + offset}, giving {len(record)} fields where the header has "
                f"{width}. Check the quotes on that line."
            )
        lines = text.split("\n", first)
        line = lines[first - 1] if first - 1 < len(lines) else ""
        header_words = f"{width}" + (", its last one empty (the header ends with a separator)"
                                     if not header[-1].strip() else "")  # fmt: skip
        if n_bad == 1 and last >= total_lines and len(record) < width:
            raise DataError(
                f"The last line ({first + offset}) of `{name}` has {plural(len(record), 'field')} "
                f"where the header has {header_words}: the file looks cut short (an interrupted "
                f"download or copy): {_preview(line)}. Get the file again, or remove that line."
            )
        others = ""
        if n_bad > 1:
            more = "over 100" if n_bad > 100 else str(n_bad)
            others = (f" It is one of {more} such lines (lines "
                      f"{', '.join(map(str, bad_lines))}{', …' if n_bad > len(bad_lines) else ''}).")
        raise DataError(
            f"Line {first + offset} of `{name}` has {plural(len(record), 'field')} but the header "
            f"has {header_words}; check that line for an unquoted delimiter or a missing quote: "
            f"{_preview(line)}.{others}"
        )
    multiline = (multiline_count, multiline_first) if multiline_count else None
    return header, n_rows, trailing, multiline


def _column_names(header: list[str], name: str) -> tuple[list[str], list[str]]:
    """``portable.column_names``, with what it changed said."""
    names = column_names(header)
    stripped = [h.strip() for h in header]
    notices: list[str] = []
    if stripped != header:
        notices.append("Removed spaces around column names.")
    for i, (old, new) in enumerate(zip(stripped, names, strict=True)):
        if old and new != old:
            kept = names.index(old)  # the column that kept the name (not always the first)
            pair = sorted((kept + 1, i + 1))
            notices.append(f"Columns {pair[0]} and {pair[1]} are both named `{old}` in the "
                           f"header; called column {i + 1} `{new}`.")
    notices += [f"Column {i + 1} has no name in the header; called it `{new}`."
                for i, (old, new) in enumerate(zip(stripped, names, strict=True)) if not old]
    return names, notices


# --- pandas ----------------------------------------------------------------------------------


def _zero_led_columns(text: str, delimiter: str, names: list[str]) -> list[str]:
    """Columns whose first records hold a whole number written with leading zeros (`007`, a
    customer number, a ZIP code): read as text, so `007` stays `007`. Read as numbers they lost
    their zeros, and predictions keyed by such an ID no longer joined back to the source.
    Profiling then keeps them as categories (codes are labels, not quantities)."""
    found: set[int] = set()
    for record in _first_records(_sample(text), delimiter, 200)[1:]:
        found.update(i for i, v in enumerate(record[: len(names)]) if ZERO_LED.fullmatch(v.strip()))
    return [names[i] for i in sorted(found)]


def _parse(text: str, delimiter: str, decimal: str, names: list[str], trailing: bool, name: str,
           offset: int) -> pd.DataFrame:
    usecols = list(range(len(names))) if trailing else None
    all_names = [*names, "__knobs_trailing__"] if trailing else names
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = pd.read_csv(
                io.StringIO(text), sep=delimiter, decimal=decimal, header=0, names=all_names,
                usecols=usecols, index_col=False, skip_blank_lines=True, low_memory=False,
                engine="c", quotechar='"', doublequote=True,
                dtype=dict.fromkeys(_zero_led_columns(text, delimiter, names), "str"),
            )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, UnicodeError,
            OverflowError, csv.Error) as exc:
        match = re.search(r"(?:line|row) (\d+)", str(exc))
        where = f" near line {int(match.group(1)) + offset}" if match else ""
        raise DataError(f"`{name}` could not be read as a table{where}: check the quotes and "
                        "separators there, or save the file again as CSV.") from None
    frame.columns = pd.Index(names)
    frame.attrs["decimal"] = decimal  # lets profiling read leftover "1,5" text as 1.5
    return frame


def _adds_up(frame: pd.DataFrame, pos: int, *, average: bool) -> bool:
    """Whether a numeric cell of row ``pos`` reads as a summary of the other rows: a total at
    least their largest value, or an average inside their range; the other rows must vary. A
    row whose first cell reads "SUM" among zeros like every other row's is an example."""
    from knobs.portable import parse_numbers

    others = frame.drop(index=frame.index[pos])
    for column in frame.columns:
        values = parse_numbers(others[column].astype("str"))
        if values.notna().mean() < 0.9 or values.nunique() < 2:
            continue
        own = parse_numbers(pd.Series([str(frame[column].iloc[pos])])).iloc[0]
        if pd.isna(own):
            continue
        low, high = values.min(), values.max()
        if (low <= own <= high) if average else own >= high:
            return True
    return False


def _drop_repeated_headers(frame: pd.DataFrame, header: list[str],
                           notices: list[str]) -> pd.DataFrame:
    """Without the rows that repeat the header line, said in a notice.

    Files joined end to end (`cat jan.csv feb.csv`) carry each one's header into the rows: there
    it made every number column text and the target's name a class of one row, and the search
    was refused for that class. The columns it turned into text are numbers again after it goes
    (codes written with leading zeros stay text, as :func:`_zero_led_columns` read them).
    """
    wanted = np.array([str(h).strip() for h in header[: frame.shape[1]]], dtype=object)
    if len(frame) < 2 or len(wanted) != frame.shape[1]:
        return frame
    cells = frame.astype(object).where(frame.notna(), "").astype("str")
    repeats = np.flatnonzero((cells.apply(lambda c: c.str.strip()).to_numpy() == wanted).all(axis=1))
    if not len(repeats):
        return frame
    notices.append(
        f"Dropped {plural(len(repeats), 'row')} repeating the header line (data row "
        f"{', '.join(str(i + 1) for i in repeats[:3])}{' …' if len(repeats) > 3 else ''}): files "
        "joined end to end, each with its own header."
    )
    frame = frame.drop(index=frame.index[repeats]).reset_index(drop=True)
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values.dtype):
            continue
        written = values.dropna().astype("str").str.strip()
        if written.str.fullmatch(ZERO_LED).any():
            continue
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.notna().sum() == values.notna().sum():
            frame[column] = numbers
    return frame


def _drop_summary_rows(frame: pd.DataFrame, notices: list[str]) -> pd.DataFrame:
    """Without the totals row a spreadsheet export puts first or last, said in a notice.

    Such a row is no example: its target is the sum of the others (a price column's `Total`
    row was 300 times the median price, and every model scored R² 0 on the fold holding it, so
    the pruner stopped 22 of 22 tuned trials on that fold's noise). A row counts when a cell of
    it reads only "Total", "Grand total", "Sum", "Average"... and no other row of that column
    does, so a category that happens to be called "Total" stays, and when one of its numbers
    reads as a summary of the other rows' (:func:`_adds_up`).
    """
    if len(frame) < 10:
        return frame
    # Rows of empty cells at either end (`,,,,` lines a spreadsheet leaves) hold no example and
    # hid a totals row above them: only the rows between the first and last filled one count.
    filled = np.flatnonzero(frame.notna().any(axis=1).to_numpy())
    if len(filled) and (filled[0] > 0 or filled[-1] < len(frame) - 1):
        empty = len(frame) - (filled[-1] - filled[0] + 1)
        top, bottom = filled[0] > 0, filled[-1] < len(frame) - 1
        where = "both ends" if top and bottom else "start" if top else "end"
        notices.append(f"Dropped {plural(empty, 'empty row')} at the {where} of the table "
                       "(every cell empty).")
        frame = frame.iloc[filled[0]: filled[-1] + 1].reset_index(drop=True)
    drop: list[int] = []
    for pos, where in ((len(frame) - 1, "last"), (0, "first")):
        for column, value in frame.iloc[pos].items():
            if not isinstance(value, str):
                continue
            word = value.strip().rstrip(":").strip()
            if not _SUMMARY_WORD.fullmatch(word):
                continue
            cells = frame[column]
            if int((cells.astype("str").str.strip().str.rstrip(":").str.strip() == word).sum()) != 1:
                continue
            if not _adds_up(frame, pos, average=word.lower() in ("average", "mean")):
                continue
            drop.append(pos)
            notices.append(f"Dropped the {where} row: it reads `{value.strip()}` in column "
                           f"`{column}`, a totals row rather than an example to learn from.")
            break
    if not drop:
        return frame
    return frame.drop(index=frame.index[drop]).reset_index(drop=True)
