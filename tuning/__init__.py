"""Sweeps over recurrent architectures with keras-tuner: search, retrain, evaluate, export."""
