"""``hhlif bench``'s parts: the reference formulation it compares against, its measurements, the peer
comparison with snnTorch."""
