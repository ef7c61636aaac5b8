"""Synthetic camera scenes with ground truth: coffee trays and fruit conveyors."""
