"""Training: real corpora to tensors, models, training loops and evaluation.

Uses ``daemon.music`` for every conversion; imports torch only in modules that train.
"""
