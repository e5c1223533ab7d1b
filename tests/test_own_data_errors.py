"""Bad series files get errors that name the file, the column or series and what was expected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstmkit.data.panel import PanelForecastDataModule


def setup(path, **options):
    dm = PanelForecastDataModule(path=str(path), **{"input_length": 6, "horizon": 3, "val_size": 6, "test_size": 6,
                                                    **options})
    dm.setup()
    return dm


def write(tmp_path, frame, name="bad.csv"):
    frame.to_csv(tmp_path / name, index=False)
    return tmp_path / name


def monthly(n=30, key="a", start="2020-01-01"):
    return pd.DataFrame({"unique_id": key, "ds": pd.date_range(start, periods=n, freq="MS"),
                         "y": np.arange(n, dtype=float)})


def test_missing_column_names_the_option(tmp_path):
    path = write(tmp_path, monthly().rename(columns={"y": "sales"}))
    with pytest.raises(KeyError, match=r"bad.csv: column\(s\) \['y'\] not found; the file has \['unique_id', 'ds', "
                                       r"'sales'\] \(name yours with data.target=...\)"):
        setup(path)
    with pytest.raises(KeyError, match=r"column\(s\) \['price'\] not found"):
        setup(path, target="sales", past_covariates=["price"])


def test_non_numeric_target_names_the_row(tmp_path):
    frame = monthly().astype({"y": object})
    frame.loc[7, "y"] = "12,5"
    with pytest.raises(TypeError, match=r"bad.csv: column 'y' must be numeric; data row 8 holds '12,5'"):
        setup(write(tmp_path, frame))


def test_unparseable_time(tmp_path):
    frame = monthly().astype({"ds": str})
    frame.loc[3, "ds"] = "sometime"
    with pytest.raises(ValueError, match=r"column 'ds' must hold dates/times or integers; data row 4 holds 'sometime'"):
        setup(write(tmp_path, frame))


def test_duplicate_rows(tmp_path):
    frame = pd.concat([monthly(), monthly().iloc[[4]]], ignore_index=True)
    with pytest.raises(ValueError, match=r"2 rows repeat a \(unique_id, ds\) pair, e.g. series 'a' at .*2020-05-01"):
        setup(write(tmp_path, frame))


def test_several_series_without_id_column_hint(tmp_path):
    frame = pd.concat([monthly(key="a"), monthly(key="b")]).rename(columns={"unique_id": "store"})
    with pytest.raises(ValueError, match=r"name its id column with data.id_column \(columns: \['store', 'ds', 'y'\]\)"):
        setup(write(tmp_path, frame))
    assert len(setup(tmp_path / "bad.csv", id_column="store").ids) == 2


def test_unsorted_time(tmp_path):
    frame = monthly()
    frame.iloc[[10, 11]] = frame.iloc[[11, 10]].to_numpy()
    with pytest.raises(ValueError, match=r"series 'a' is not sorted by 'ds': data row 12 .* sort each series oldest"):
        setup(write(tmp_path, frame))


def test_series_too_short(tmp_path):
    frame = pd.concat([monthly(30, "long"), monthly(20, "short")], ignore_index=True)
    message = (r"series 'short' has 20 time steps: 8 train, 6 validation, 6 test; it needs input_length \+ horizon = 9 "
               r"train steps and horizon = 3 steps each for validation and test")
    with pytest.raises(ValueError, match=message):
        setup(write(tmp_path, frame))


def test_timestamps_off_the_grid_and_mixed_frequencies(tmp_path):
    weekly = pd.DataFrame({"unique_id": "w", "ds": pd.date_range("2020-01-06", periods=30, freq="W-MON"), "y": 1.0})
    frame = pd.concat([monthly(30, "m1"), monthly(30, "m2"), weekly], ignore_index=True)
    with pytest.raises(ValueError, match=r"series 'w' has \d+ timestamp\(s\) off the 'MS' grid"):
        setup(write(tmp_path, frame))


def test_gaps_with_fill_null_and_drop_counts(tmp_path, caplog):
    frame = monthly(40)
    frame.loc[12, "y"] = np.nan
    path = write(tmp_path, frame.drop(index=20))
    with pytest.raises(ValueError, match=r"series 'a' has 2 missing value\(s\), the first in column 'y' at "
                                         r".*2021-01-01.*set data.fill=interpolate, ffill or drop"):
        setup(path, fill=None)
    with caplog.at_level("INFO", logger="lstmkit.data"):
        dm = setup(path, fill="drop")
    assert "series 'a': 2 row(s) with missing values dropped" in caplog.text
    assert len(dm.target_series[0]) == 38 and not np.isnan(dm.target_series[0]).any()


def test_unreadable_and_unknown_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"data.path: no file at .*nothing.csv"):
        setup(tmp_path / "nothing.csv")
    (tmp_path / "table.xlsx").write_bytes(b"PK")
    with pytest.raises(ValueError, match=r"table.xlsx: expected a .csv, .csv.gz, .tsv, .parquet or .pq file"):
        setup(tmp_path / "table.xlsx")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match=r"empty.csv: not a readable CSV file"):
        setup(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("unique_id,ds,y\n")
    with pytest.raises(ValueError, match=r"header.csv: the file has no data rows"):
        setup(tmp_path / "header.csv")
