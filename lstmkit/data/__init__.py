"""Data: LightningDataModules and data preparation.

- :mod:`lstmkit.data.resumable`: a DataModule base whose training order survives a mid-epoch restart.
- :mod:`lstmkit.data.series`, :mod:`lstmkit.data.prep`, :mod:`lstmkit.data.windowing`: named series, fitted
  preparation steps and chronological windowing.
- :mod:`lstmkit.data.forecasting`: ``ForecastDataModule``, a prepared and windowed series (the default
  experiment's sunspots, CO₂, macro, sine).
- Your own files: :mod:`lstmkit.data.tables` (reading and checking series files), :mod:`lstmkit.data.panel`
  (many series, one global forecaster), :mod:`lstmkit.data.text_csv`, :mod:`lstmkit.data.series_csv`,
  :mod:`lstmkit.data.speech_csv`; :mod:`lstmkit.data.prepared` stores their fitted preparation in checkpoints for
  :mod:`lstmkit.predict`; :mod:`lstmkit.data.arrays` serves arrays.

Submodules are not imported here so that importing one does not pull in another's optional packages.
"""
