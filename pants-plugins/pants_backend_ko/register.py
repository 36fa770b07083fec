"""Activation module: lists the backend's target types and rules, nothing else."""


def target_types():
    return []


def rules():
    return []
