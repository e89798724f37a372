"""Measurements of runs: spike statistics today; cost (FLOPs, SynOps, time, memory) next."""
