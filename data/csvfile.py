"""One strict CSV reader for every file veracity reads: UTF-8 with or without a BOM, and a one-line
error naming the line of an unterminated quote or of a row whose number of fields differs from the header."""

from __future__ import annotations

import csv
import io
from pathlib import Path

__all__ = ["read_csv_rows"]


def read_csv_rows(source: str | Path, text: str | None = None) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows (dicts) of a CSV file, or of ``text`` read from ``source``.

    Args:
        source: The file's path (read as UTF-8; a leading byte-order mark is dropped), or the name
            to report for ``text``.
        text: The CSV's text when it is already in memory.

    Returns:
        ``(header, rows)``.

    Raises:
        ValueError: Not UTF-8, an unterminated quote, or a row with more or fewer fields than the
            header; the message names the line.
    """
    name = Path(source).name
    if text is None:
        try:
            text = Path(source).read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(f"{name} is not UTF-8 text ({err.reason}): save it as a UTF-8 CSV") from None
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)  # BOM dropped
    try:
        header = [column.strip() for column in next(reader, [])]
        rows = []
        for fields in reader:
            if not fields:
                continue  # a blank line
            if len(fields) != len(header):
                raise ValueError(f"{name} line {reader.line_num}: {len(fields)} field{'s' * (len(fields) != 1)} "
                                 f"where the header has {len(header)}; quote fields that contain commas")
            rows.append(dict(zip(header, fields)))
    except csv.Error as err:
        raise ValueError(f"{name} line {reader.line_num}: malformed CSV ({err}); close every opening quote, "
                         "and double a quote inside a quoted field") from None
    return header, rows
