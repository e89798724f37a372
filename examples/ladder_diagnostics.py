"""Two diagnostics of a classification model at initialisation, after its input gain is calibrated, that tell a
model that cannot represent the task from one that cannot learn it (docs/explanation/ladder.md#izhikevichs-time-step).

* **readout**: the hidden layer's firing rates of the untrained network as fixed random features; a linear
  readout per task fitted to them (L-BFGS, small L2) on the training samples; its test accuracy, mean of the
  two tasks. It measures what the forward pass keeps of the input.
* **gradient concentration**: the gradient of the summed loss with respect to each sample's synaptic current of
  the hidden layer (what the synapse's weight gradient is built from); the share of the total squared norm carried
  by the top 1 % of samples, and the 99th percentile of the per-sample norms over their median. When a few
  samples carry most of it, each batch's step follows those few.

    python examples/ladder_diagnostics.py model=lif model=izhikevich,neuron.dt=0.5 model=izhikevich

Each argument is one model: its overrides joined by commas, composed like ``hhlif train`` on Multi-Fashion
(fc). ``--train N --test N`` set the samples (default 4,000 and 1,000, the quick ladder's).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from hhlif.config import compose
from hhlif.trainers.classify import ClassifyTrainer


def hidden_rates(trainer: ClassifyTrainer, batches) -> tuple[torch.Tensor, torch.Tensor]:
    """The firing rates the head receives ``[N, units]`` and the labels ``[N, tasks]``, over ``batches``."""
    seen: list[torch.Tensor] = []
    handle = trainer.model.head.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    labels = []
    with torch.no_grad():
        for x, y in batches.iterate():
            trainer.model(x)
            labels.append(y)
    handle.remove()
    return torch.cat(seen), torch.cat(labels)


def readout_accuracy(trainer: ClassifyTrainer) -> float:
    x_train, y_train = hidden_rates(trainer, trainer.train_batches)
    x_test, y_test = hidden_rates(trainer, trainer.test_batches)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    accuracies = []
    for k in range(y_train.shape[1]):
        readout = torch.nn.Linear(x_train.shape[1], int(y_train.max()) + 1)
        optimizer = torch.optim.LBFGS(readout.parameters(), max_iter=200, line_search_fn="strong_wolfe")

        def closure(k=k, readout=readout, optimizer=optimizer):
            optimizer.zero_grad()
            loss = F.cross_entropy(readout(x_train), y_train[:, k]) + 1e-3 * readout.weight.pow(2).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        with torch.no_grad():
            accuracies.append(float((readout(x_test).argmax(1) == y_test[:, k]).float().mean()))
    return sum(accuracies) / len(accuracies)


def gradient_concentration(trainer: ClassifyTrainer) -> tuple[float, float]:
    """(share of the squared gradient in the top 1 % of samples, p99 / median of the per-sample norms)."""
    grads: list[torch.Tensor] = []

    def keep_gradient(module, inputs, current):
        current.register_hook(lambda grad: grads.append(grad.detach().clone()))

    handle = trainer.model.layer.synapse.register_forward_hook(keep_gradient)
    for x, y in trainer.train_batches.iterate():
        logits = trainer.model(x)
        sum(F.cross_entropy(logits[:, k], y[:, k], reduction="sum") for k in range(y.shape[1])).backward()
    handle.remove()
    norms = torch.cat(grads).norm(dim=1)
    squares = norms.pow(2).sort(descending=True).values
    top = squares[: max(1, len(squares) // 100)].sum() / squares.sum()
    return float(top), float(norms.quantile(0.99) / norms.median())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="one model per argument: overrides joined by commas")
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--test", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("model | input gain | readout accuracy | top 1 % share of squared gradient | p99 / median")
    for spec in args.models:
        cfg = compose("train", [*spec.split(","), "network=fc", "task=multifashion", f"task.limit_train={args.train}",
                                f"task.limit_test={args.test}"])
        with tempfile.TemporaryDirectory() as run_dir:
            trainer = ClassifyTrainer(cfg, Path(run_dir))
            gain = getattr(trainer.model.layer.neuron, "input_gain", None)
            accuracy = readout_accuracy(trainer)
            top, spread = gradient_concentration(trainer)
        gain_text = "-" if gain is None else f"{float(gain):.4g}"
        print(f"{spec} | {gain_text} | {accuracy:.3f} | {top:.1%} | {spread:.1f}", flush=True)


if __name__ == "__main__":
    main()
