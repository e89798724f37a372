"""The paper's equivalence simulations (its MATLAB code, docs/explanation/authors-code.md#matlab-simulations), in NumPy.

* :mod:`hhlif.simulate.hh`: the textbook Hodgkin–Huxley neuron (both voltage conventions), forward Euler;
* :mod:`hhlif.simulate.lif2hh`: the s-LIF2HH unit (four LIF sub-neurons, fires when all four are above θ) and
  the tv-LIF2HH neuron (LIF sub-neurons driven by the HH conductances);
* :mod:`hhlif.simulate.waveforms`: the five input currents of Fig. 3d;
* :mod:`hhlif.simulate.spikes`: spike onsets and the comparison metrics;
* :mod:`hhlif.simulate.experiments`: Fig. 3d (chain), Supp. Fig. 2 (784–128–10 network, XOR motif);
* :mod:`hhlif.simulate.data`: the network's weights and input image (the authors' files, or generated);
* :mod:`hhlif.simulate.plots`: the figures.

``hhlif simulate`` (:mod:`hhlif.commands.simulate`) runs them from the command line. The trainable textbook HH
layer for networks is :class:`hhlif.neurons.hh_textbook.HHTextbook` (``neuron=hh_textbook``).
"""
