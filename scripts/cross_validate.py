"""Cross-validate an experiment: ``python scripts/cross_validate.py experiment=... cv.folds=5``; same as
``lstmkit-cv``. See docs/FORECASTING.md."""

from lstmkit.cross_validate import main

if __name__ == "__main__":
    main()
