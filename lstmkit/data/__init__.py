"""Data: LightningDataModules and data preparation.

- :mod:`lstmkit.data.resumable`: a DataModule base whose training order survives a mid-epoch restart.
- :mod:`lstmkit.data.sunspots`: yearly sunspot numbers (statsmodels), windowed for one-step forecasting.

Submodules are not imported here so that importing one does not pull in another's optional packages.
"""
