"""Baselines the paper compares AEVB with: wake-sleep (§5) and Monte Carlo EM (Appendix E)."""
