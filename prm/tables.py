"""Result tables on disk through pandas: CSV always, Parquet where pyarrow is installed.

Public: `TABLE_SUFFIXES`, `write_table(frame, path)`, `read_table(path)`, `parquet_available()`.

The format comes from the file's suffix (`.csv`, `.parquet`); a write replaces the file
atomically (`prm.atomic`), so a reader never sees half a table. CSV is pandas' own (no index
column, `\\n` line ends, missing values empty); columns holding lists (step scores) are written
as their Python text in CSV and as lists in Parquet. pandas loads on first use.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from prm.atomic import atomic_writer

TABLE_SUFFIXES = (".csv", ".parquet")


def parquet_available() -> bool:
    """Whether pyarrow (pandas' Parquet engine) is installed."""
    return importlib.util.find_spec("pyarrow") is not None


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"{path}: unknown table format {suffix or '(no suffix)'!r}; name it "
                         f"{' or '.join('*' + s for s in TABLE_SUFFIXES)}")
    if suffix == ".parquet" and not parquet_available():
        raise ImportError(f"{path}: Parquet needs pyarrow (pip install pyarrow); or use a .csv file")
    return suffix


def write_table(frame: Any, path: str | Path) -> Path:
    """Write a DataFrame to `path` (.csv or .parquet), atomically, without its index."""
    path = Path(path)
    if _suffix(path) == ".csv":
        with atomic_writer(path) as handle:
            frame.to_csv(handle, index=False)
    else:
        with atomic_writer(path, binary=True) as handle:
            frame.to_parquet(handle, index=False)
    return path


def read_table(path: str | Path) -> Any:
    """The DataFrame `write_table` wrote (or any CSV / Parquet file)."""
    import pandas as pd

    path = Path(path)
    return pd.read_csv(path) if _suffix(path) == ".csv" else pd.read_parquet(path)
