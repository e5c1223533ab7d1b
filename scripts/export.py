"""Export a checkpoint for inference: ``python scripts/export.py ckpt_path=.../best.ckpt format=onnx|torch_export
output=... [experiment=...]``; same as ``lstmkit-export``. See docs/DEPLOY.md."""

from lstmkit.export import main

if __name__ == "__main__":
    main()
