"""Ignite/MONAI engines, handlers and the training methods."""
