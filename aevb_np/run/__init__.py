"""A training run around Algorithm 1: its settings, command line, folder, monitor, evaluation,
§5's step-size trials, divergence rule and pictures.

``python -m aevb_np.train`` (:mod:`aevb_np.train`) puts these together; the loop itself is
:func:`aevb_np.loop.algorithm_1` and the algorithms are the parts of :mod:`aevb_np.algorithms`.
"""
