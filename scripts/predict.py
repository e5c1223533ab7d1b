"""Predict new data with a checkpoint: ``python scripts/predict.py ckpt_path=.../best.ckpt data.path=FILE
output=OUT.csv``; same as ``lstmkit-predict``. See docs/FRAMEWORK.md."""

from lstmkit.predict import main

if __name__ == "__main__":
    main()
