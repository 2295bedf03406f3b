"""Steering studies: honesty_steering (RepE honesty vector) and east_bandit (EAST entropic steering)."""
