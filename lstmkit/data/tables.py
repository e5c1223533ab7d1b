"""Reading a user's series file: CSV or Parquet, long or wide, checked, on a regular time grid.

The long format is neuralforecast's: one row per (series, time) with columns ``unique_id``, ``ds``, ``y`` and any
further numeric columns (covariates); other names are mapped with ``id_column``, ``time_column``, ``target``. A file
without the id column holds one series. The wide format has the time column and one numeric column per series.

Every check names the file, the column or series and what was expected: a missing column, a target that is not
numeric, times that do not parse, duplicate ``(unique_id, ds)`` rows, times out of order within a series, times off
the series' frequency grid. :func:`regular_grid` inserts the missing timestamps (as rows of NaN, for the fill rule of
:class:`~lstmkit.data.prep.FillMissing`) and counts them.

``ds`` holds datetimes (frequency: a pandas offset alias such as ``"MS"``, inferred with :func:`pandas.infer_freq`)
or integers (frequency: the step between consecutive values, an ``int``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from lstmkit.utils.imports import require

__all__ = ["future_times", "infer_frequency", "long_frame", "read_table", "regular_grid"]

log = logging.getLogger(__name__)
ID, TIME, TARGET = "unique_id", "ds", "y"  # the column names of a long frame after renaming


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV (``.csv``, ``.csv.gz``, ``.tsv``) or Parquet (``.parquet``, ``.pq``) file as a DataFrame."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data.path: no file at {str(path)!r}")
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        require("pyarrow", "data", "reading Parquet files")
        return pd.read_parquet(path)
    if name.endswith((".csv", ".csv.gz", ".tsv", ".txt")):
        try:
            return pd.read_csv(path, sep="\t" if name.endswith(".tsv") else ",")
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
            raise ValueError(f"{path}: not a readable CSV file ({error})") from error
    raise ValueError(f"{path}: expected a .csv, .csv.gz, .tsv, .parquet or .pq file")


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], source: str, option: dict[str, str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        hints = [f"{option[c]}=..." for c in missing if c in option]
        raise KeyError(f"{source}: column(s) {missing} not found; the file has {list(frame.columns)}"
                       + (f" (name yours with {', '.join(hints)})" if hints else ""))


def _numeric(values: pd.Series, source: str, column: str) -> pd.Series:
    """``values`` as float64; a value that is neither a number nor empty is an error naming its row."""
    if pd.api.types.is_bool_dtype(values) or not (
        pd.api.types.is_numeric_dtype(values) or pd.api.types.is_object_dtype(values)
        or pd.api.types.is_string_dtype(values)
    ):
        raise TypeError(f"{source}: column {column!r} must be numeric, got dtype {values.dtype}")
    converted = pd.to_numeric(values, errors="coerce")
    bad = converted.isna() & values.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise TypeError(f"{source}: column {column!r} must be numeric; data row {row + 1} holds "
                        f"{values.iloc[row]!r} ({int(bad.sum())} such values)")
    return converted.astype(np.float64)


def _times(values: pd.Series, source: str, column: str) -> pd.Series:
    """Integers stay integers (steps); anything else must parse as datetimes (an error names the first bad one)."""
    if pd.api.types.is_integer_dtype(values):
        return values.astype(np.int64)
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise ValueError(f"{source}: column {column!r} is empty at data row {row + 1}; every row needs a time")
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    try:
        return pd.to_datetime(values, format="mixed")
    except (ValueError, TypeError):
        for row, value in enumerate(values):
            try:
                pd.to_datetime(value)
            except (ValueError, TypeError):
                raise ValueError(f"{source}: column {column!r} must hold dates/times or integers; data row "
                                 f"{row + 1} holds {value!r}") from None
        raise


def long_frame(frame: pd.DataFrame, source: str, *, format: str = "long", id_column: str = ID,
               time_column: str = TIME, target: str = TARGET, covariates: Sequence[str] = ()) -> pd.DataFrame:
    """The file's rows as a checked long frame with columns ``unique_id`` (str), ``ds``, ``y`` and ``covariates``
    (float64), in file order. ``source`` names the file in errors."""
    options = {id_column: "data.id_column", time_column: "data.time_column", target: "data.target"}
    if format == "wide":
        if covariates:
            raise ValueError(f"{source}: data.format=wide has one column per series and no covariates; "
                             f"got data.past_covariates={list(covariates)} (use the long format)")
        _require_columns(frame, [time_column], source, options)
        series = [c for c in frame.columns if c != time_column]
        if not series:
            raise ValueError(f"{source}: data.format=wide needs a column per series next to {time_column!r}")
        values = {c: _numeric(frame[c], source, c) for c in series}
        wide = pd.DataFrame({TIME: frame[time_column], **values})
        frame = wide.melt(id_vars=TIME, var_name=ID, value_name=TARGET)[[ID, TIME, TARGET]]
        if len(series) > 1:  # series of unequal lengths leave empty cells; those inside a series come back as gaps
            empty = frame[TARGET].isna()
            if empty.any():
                log.info("%s: %d empty cell(s) of the wide table left out (%s)", source, int(empty.sum()),
                         frame.loc[empty, ID].value_counts().to_dict())
            frame = frame[~empty]
        id_column, time_column, target = ID, TIME, TARGET
    elif format != "long":
        raise ValueError(f"data.format: expected 'long' or 'wide', got {format!r}")
    has_id = id_column in frame.columns
    _require_columns(frame, [time_column, target, *covariates], source, options)
    out = pd.DataFrame({
        ID: frame[id_column].astype(str) if has_id else target,
        TIME: _times(frame[time_column], source, time_column),
        TARGET: _numeric(frame[target], source, target),
        **{c: _numeric(frame[c], source, c) for c in covariates},
    }).reset_index(drop=True)
    if len(out) == 0:
        raise ValueError(f"{source}: the file has no data rows")
    duplicated = out.duplicated([ID, TIME], keep=False)
    if duplicated.any():
        first = out[duplicated].iloc[0]
        hint = "" if has_id else (f"; if the file holds several series, name its id column with data.id_column "
                                  f"(columns: {list(frame.columns)})")
        raise ValueError(f"{source}: {int(duplicated.sum())} rows repeat a ({id_column}, {time_column}) pair, e.g. "
                         f"series {first[ID]!r} at {first[TIME]!r}: expected one row per series and time{hint}")
    for key, times in out.groupby(ID, sort=False)[TIME]:
        steps = np.diff(times.to_numpy())
        if (steps <= steps.dtype.type(0)).any():
            row = int(times.index[int(np.flatnonzero(steps <= steps.dtype.type(0))[0]) + 1])
            raise ValueError(f"{source}: series {key!r} is not sorted by {time_column!r}: data row {row + 1} "
                             f"({times[row]!r}) comes after a later time; sort each series oldest first")
    return out


def infer_frequency(frame: pd.DataFrame, source: str, freq: str | int | None = None) -> str | int:
    """The series' common frequency: ``freq`` if given, else the alias :func:`pandas.infer_freq` finds most often
    on runs of 5 consecutive timestamps (so missing timestamps elsewhere do not hide it), or for integer times the
    most common step. Call :func:`regular_grid` next: it checks every timestamp lies on the grid."""
    times = frame.groupby(ID, sort=False)[TIME]
    integer = pd.api.types.is_integer_dtype(frame[TIME])
    if freq is not None:
        if integer and not (isinstance(freq, int) and freq > 0):
            raise ValueError(f"data.freq: integer times ({source}) need a positive integer step, got {freq!r}")
        if not integer:
            try:
                pd.tseries.frequencies.to_offset(freq)
            except ValueError as error:
                raise ValueError(f"data.freq: {freq!r} is not a pandas frequency alias (e.g. D, W, MS, QS)") from error
        return freq
    found: Counter = Counter()
    for _, values in times:
        values = values.to_numpy()
        if integer:
            found.update(np.diff(values).tolist())
            continue
        for start in range(0, max(len(values) - 4, 0), 5)[:200]:
            alias = pd.infer_freq(pd.DatetimeIndex(values[start : start + 5]))
            if alias is not None:
                found[alias] += 1
    if not found:
        raise ValueError(f"{source}: could not infer a frequency from {TIME!r} (fewer than 5 evenly spaced "
                         "timestamps in every series); set it, e.g. data.freq=D, W, MS or QS")
    return found.most_common(1)[0][0]


def _grid(first, last, freq: str | int) -> pd.Index:
    if isinstance(freq, int):
        return pd.Index(np.arange(first, last + 1, freq, dtype=np.int64))
    return pd.date_range(first, last, freq=freq)


def future_times(last, freq: str | int, horizon: int) -> pd.Index:
    """The ``horizon`` timestamps after ``last`` on the ``freq`` grid."""
    if isinstance(freq, int):
        return pd.Index(last + freq * np.arange(1, horizon + 1, dtype=np.int64))
    return pd.date_range(last, periods=horizon + 1, freq=freq)[1:]


def regular_grid(frame: pd.DataFrame, source: str, freq: str | int) -> dict[str, pd.DataFrame]:
    """``{unique_id: frame indexed by ds}`` on each series' full grid from its first to its last timestamp;
    inserted timestamps hold NaN (logged with their count). A timestamp off the grid is an error."""
    series = {}
    for key, part in frame.groupby(ID, sort=False):
        part = part.drop(columns=ID).set_index(TIME)
        grid = _grid(part.index[0], part.index[-1], freq)
        off = part.index.difference(grid)
        if len(off):
            raise ValueError(f"{source}: series {key!r} has {len(off)} timestamp(s) off the {freq!r} grid that starts "
                             f"at {part.index[0]!r}, e.g. {off[0]!r}: expected one frequency for every series "
                             "(set data.freq, or make the timestamps regular)")
        inserted = len(grid) - len(part)
        if inserted:
            log.info("%s: series %r: %d missing timestamp(s) inserted on the %s grid", source, key, inserted, freq)
        series[key] = part.reindex(grid).rename_axis(TIME)
    return series
