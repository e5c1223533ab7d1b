"""Forecast metrics on arrays or tensors of any matching shape (all elements pooled), returned as Python floats.

MSE, MAE, MAPE, sMAPE and R² come from ``torchmetrics.functional``; MASE, the pinball loss and interval coverage,
which torchmetrics lacks, are written here. Conventions: MAPE and sMAPE are fractions (0.05 = 5 %), torchmetrics'
definitions (sMAPE = mean of ``2|ŷ - y| / (|y| + |ŷ|)``); MASE divides the MAE by the in-sample MAE of the seasonal
naive forecast on the training series (Hyndman & Koehler 2006), so MASE < 1 beats seasonal naive one step ahead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torchmetrics.functional as tmf

__all__ = ["forecast_metrics", "interval_coverage", "mase", "pinball_loss", "quantile_loss"]


def _flat(values) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float64)).reshape(-1)


def mase(pred, target, train_series, season: int = 1) -> float:
    """Mean absolute scaled error: ``MAE(pred, target) / mean |y[t] - y[t - season]|`` over ``train_series``."""
    train_series = np.asarray(train_series, dtype=np.float64)
    if len(train_series) <= season:
        raise ValueError(f"MASE needs a training series longer than season={season}, got {len(train_series)} values")
    scale = np.abs(train_series[season:] - train_series[:-season]).mean()
    return float(tmf.mean_absolute_error(_flat(pred), _flat(target))) / scale


def quantile_loss(preds: torch.Tensor, target: torch.Tensor, quantiles: torch.Tensor) -> torch.Tensor:
    """Differentiable mean pinball loss: ``preds (..., Q)`` against ``target (...)`` for levels ``quantiles (Q,)``,
    the mean over elements and levels of ``max(q·(y - ŷ_q), (q - 1)·(y - ŷ_q))``."""
    if preds.shape[-1] != len(quantiles):
        raise ValueError(f"preds has {preds.shape[-1]} values in its last dimension for {len(quantiles)} quantiles")
    error = target.unsqueeze(-1) - preds
    return torch.maximum(quantiles * error, (quantiles - 1) * error).mean()


def pinball_loss(quantile_preds, target, quantiles: Sequence[float]) -> float:
    """:func:`quantile_loss` of arrays or tensors, as a float."""
    as_tensor = lambda values: torch.as_tensor(np.asarray(values, dtype=np.float64))
    return float(quantile_loss(as_tensor(quantile_preds), as_tensor(target), as_tensor(quantiles)))


def interval_coverage(lower, upper, target) -> float:
    """Fraction of targets inside the closed interval ``[lower, upper]``."""
    lower, upper, target = _flat(lower), _flat(upper), _flat(target)
    return float(((target >= lower) & (target <= upper)).double().mean())


def forecast_metrics(pred, target, train_series=None, season: int = 1) -> dict[str, float]:
    """Point-forecast metrics ``mse, rmse, mae, mape, smape, r2`` and, given ``train_series``, ``mase``."""
    pred, target = _flat(pred), _flat(target)
    if pred.shape != target.shape:
        raise ValueError(f"pred has {pred.numel()} values but target has {target.numel()}")
    mse = float(tmf.mean_squared_error(pred, target))
    metrics = {
        "mse": mse,
        "rmse": mse**0.5,
        "mae": float(tmf.mean_absolute_error(pred, target)),
        "mape": float(tmf.mean_absolute_percentage_error(pred, target)),
        "smape": float(tmf.symmetric_mean_absolute_percentage_error(pred, target)),
        "r2": float(tmf.r2_score(pred, target)),
    }
    if train_series is not None:
        metrics["mase"] = mase(pred, target, train_series, season)
    return metrics
