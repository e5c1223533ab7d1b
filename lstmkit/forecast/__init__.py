"""Forecasting and anomaly-detection pieces independent of the training framework: baselines, metrics,
cross-validation folds and anomaly injection/scoring."""
