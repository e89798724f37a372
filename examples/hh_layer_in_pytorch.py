"""Train hhlif's HH layer inside a plain PyTorch loop (the README and docs/tutorials/hh-layer-pytorch.md show it)."""
import torch

import hhlif

torch.manual_seed(0)
x = torch.rand(256, 20) * 10  # 256 samples of 20 features
y = (x[:, :10].sum(1) > x[:, 10:].sum(1)).long()  # which half of the features is larger
layer = hhlif.SpikingLinear(20, 64, hhlif.HH)  # Linear(20, 64) -> 64 HH neurons
readout = torch.nn.Linear(64, 2)
opt = torch.optim.Adam([*layer.parameters(), *readout.parameters()], lr=1e-2)
for _ in range(30):  # 30 passes over the data
    rate = layer.rate(x, steps=15)  # firing rate over 15 time steps, [256, 64]
    loss = torch.nn.functional.cross_entropy(readout(rate), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
accuracy = (readout(layer.rate(x, steps=15)).argmax(1) == y).float().mean().item()
print(f"loss {loss.item():.3f}, training accuracy {accuracy:.3f}")
