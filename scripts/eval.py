"""Evaluate a checkpoint: ``python scripts/eval.py ckpt_path=.../best.ckpt [experiment=...]``; same as
``lstmkit-eval``. See docs/FRAMEWORK.md."""

from lstmkit.eval import main

if __name__ == "__main__":
    main()
