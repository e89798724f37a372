"""hhlif: spiking networks of neurons with internal complexity (HH, LIF, s-LIF2HH), trained and compared."""

__version__ = "0.1.0"
