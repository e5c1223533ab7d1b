"""Train a model: ``python scripts/train.py [group=option ...] [key=value ...]``; same as ``lstmkit-train``.

With no arguments it trains the default experiment (forecast_sunspots). See docs/FRAMEWORK.md.
"""

from lstmkit.train import main

if __name__ == "__main__":
    main()
