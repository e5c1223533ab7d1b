"""Generate text with a trained language model:
``python scripts/generate.py ckpt_path=.../best.ckpt prompt="the market" temperature=0.8 top_k=40 top_p=0.95``.
See docs/TEXT.md."""

from lstmkit.generate import main

if __name__ == "__main__":
    main()
