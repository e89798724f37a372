"""Training loops. Each trainer is chosen by ``trainer.name`` and never looks at the neuron type."""
