# Makes conf/ importable as lstmkit.conf once installed, so Hydra can find it with pkg://lstmkit.conf.
