"""The neuron contract suite: what every neuron model must do to run through all of hhlif.

Run it on your own neuron with ``hhlif check neuron=<name>`` (a name of ``conf/neuron/`` or of an installed
plugin) or ``hhlif check neuron._target_=mypkg.neurons.ALIF``; hhlif's tests run it on every registered neuron.
Each check takes a *factory* (``shape → Neuron``, e.g. ``functools.partial(ALIF, tau=20.0)``) and raises
:class:`ContractError` with the class and the method at fault:

- :func:`check_shapes`: sizes as an int or a tuple; ``initial_state``, ``step`` and the window over
  ``[T, B, ...]`` give tensors of the right shape and dtype, spikes in [0, 1]; an input without its time axis is
  refused with a :class:`~hhlif.errors.ShapeError`;
- :func:`check_determinism`: the same seed builds the same parameters and gives the same spikes;
- :func:`check_gradient`: a gradient reaches the input currents through the surrogate (finite, not all zero);
- :func:`check_gradcheck`: in float64 on a tiny population, with a smooth spike function put in place of the
  step, autograd's gradient of the state trajectory of ``step`` equals finite differences
  (``torch.autograd.gradcheck``; the spikes' own gradient is the surrogate, which no finite difference sees).
  A gradient a model stops on purpose behind a boolean attribute named ``detach_*`` (``detach_reset``,
  ``detach_ionic``) is switched on for the check, which verifies the rest;
- :func:`check_fused`: where the model has a window of its own (a fused one), its spikes are bitwise those of
  the eager loop of ``step`` and its gradients equal autograd's through that loop;
- :func:`check_arithmetic`: the declared ``ops_per_step`` equals the arithmetic one ``step`` really performs
  per unit (:func:`measured_ops`), so that ``hhlif flops`` counts the model right;
- :func:`check_checkpoint`: parameters and buffers (``state_dict``) and a mid-window state survive a save and a
  load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import torch

from hhlif.errors import ShapeError
from hhlif.neurons.base import Neuron

Factory = Callable[..., Neuron]
T, B = 6, 3


class ContractError(AssertionError):
    """A neuron model breaks the contract (the message names the class and the method)."""


def _fail(neuron: Neuron | type, method: str, problem: str) -> ContractError:
    cls = neuron if isinstance(neuron, type) else type(neuron)
    return ContractError(f"{cls.__module__}.{cls.__qualname__}.{method}: {problem}")


def _unit(neuron: Neuron, k: int) -> tuple[int, ...]:
    return neuron.shape + ((k,) if k > 1 else ())


def currents(neuron: Neuron, steps: int = T, batch: int = B, dtype=torch.float32, seed: int = 0) -> torch.Tensor:
    """Input currents ``[T, B, *shape(, k_in)]`` that make most models spike: a spread of scales over the units
    (from a tenth to a hundred times a unit current), so that some units sit near their threshold."""
    gen = torch.Generator().manual_seed(seed)
    shape = (steps, batch, *_unit(neuron, neuron.inputs_per_unit))
    scale = torch.logspace(-1, 2, neuron.num_units, dtype=torch.float64).reshape(neuron.shape)
    if neuron.inputs_per_unit > 1:
        scale = scale.unsqueeze(-1)
    return (torch.rand(shape, generator=gen, dtype=torch.float64) * scale).to(dtype)


def check_shapes(factory: Factory) -> None:
    for size in (4, (4,), (2, 2, 2)):
        neuron = factory(size)
        want = (size,) if isinstance(size, int) else tuple(size)
        if tuple(neuron.shape) != want:
            raise _fail(neuron, "__init__", f"size {size!r} gave shape {neuron.shape}, expected {want}")
        for dtype in (torch.float32, torch.float64):
            _check_run(neuron.to(dtype), dtype)


def _check_run(neuron: Neuron, dtype: torch.dtype) -> None:
    x = currents(neuron, dtype=dtype)
    state = neuron.initial_state(B, x.device, dtype)
    if not isinstance(state, tuple) or not all(torch.is_tensor(s) for s in state):
        raise _fail(neuron, "initial_state", f"must return a tuple of tensors, got {type(state).__name__}")
    spikes, new = neuron.step(x[0], state)
    out_unit = _unit(neuron, neuron.outputs_per_unit)
    if not torch.is_tensor(spikes) or tuple(spikes.shape) != (B, *out_unit) or spikes.dtype != dtype:
        got = (tuple(spikes.shape), spikes.dtype) if torch.is_tensor(spikes) else type(spikes).__name__
        raise _fail(neuron, "step", f"spikes for a current {list(x[0].shape)} ({dtype}) must be {[B, *out_unit]} of "
                    f"{dtype}; got {got}")
    if not isinstance(new, tuple) or len(new) != len(state):
        raise _fail(neuron, "step", "must return (spikes, state) with a state like initial_state's")
    window = neuron(x)
    if tuple(window.shape) != (T, B, *out_unit) or window.dtype != dtype:
        raise _fail(neuron, "forward", f"spikes of currents {list(x.shape)} must be {[T, B, *out_unit]} of {dtype}; "
                    f"got {list(window.shape)} of {window.dtype}")
    window = window.detach()
    if not bool(torch.isfinite(window).all()) or float(window.min()) < 0 or float(window.max()) > 1:
        raise _fail(neuron, "forward", "spikes must be finite values in [0, 1]")
    try:
        neuron(x[0])
    except ShapeError:
        pass
    else:
        raise _fail(neuron, "forward", f"accepted currents {list(x[0].shape)} without their time axis; call "
                    "self.check_currents(currents) first (Neuron.forward does), or override window() instead")


def check_runs(factory: Factory) -> None:
    """The quick part of :func:`check_shapes` (a population of 3, float32): what ``hhlif train`` checks of a
    neuron before any training starts."""
    _check_run(factory(3), torch.float32)


def check_determinism(factory: Factory) -> None:
    outs = []
    for _ in range(2):
        torch.manual_seed(1234)
        neuron = factory(5)
        outs.append((neuron.state_dict(), neuron(currents(neuron))))
    (sd1, s1), (sd2, s2) = outs
    if sd1.keys() != sd2.keys() or any(not torch.equal(sd1[k], sd2[k]) for k in sd1):
        raise _fail(type(neuron), "__init__", "the same torch seed built different parameters or buffers")
    if not torch.equal(s1, s2):
        raise _fail(type(neuron), "forward", "the same seed and input gave different spikes")


def check_gradient(factory: Factory) -> None:
    neuron = factory(16)
    x = currents(neuron).requires_grad_(True)
    neuron(x).sum().backward()
    if x.grad is None or not bool(torch.isfinite(x.grad).all()):
        raise _fail(neuron, "forward", "no finite gradient reaches the input currents (is the spike a surrogate "
                    "function such as hhlif.neurons.surrogate.Spike?)")
    if not bool(x.grad.ne(0).any()):
        raise _fail(neuron, "forward", "the gradient of the spikes with respect to the currents is zero everywhere "
                    "(inputs from 0.1 to 100 per unit): the surrogate never opens")


class _Smooth:
    """A smooth stand-in for the spike function (a steep logistic), so that finite differences see what
    autograd sees."""

    name = "smooth"

    def __init__(self, width: float):
        self.width = width

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x / self.width)


def check_gradcheck(factory: Factory) -> None:
    from hhlif.neurons.surrogate import Spike

    neuron = factory(2).double()
    if not neuron.initial_state(1):
        return  # no state: nothing evolves
    if isinstance(getattr(neuron, "spike", None), Spike):
        neuron.spike = _Smooth(max(neuron.spike.half_width, 1e-3))
    for flag in [k for k, v in vars(neuron).items() if k.startswith("detach_") and v is True]:
        setattr(neuron, flag, False)  # a declared, deliberate stop of the gradient: the check verifies the rest
    x = currents(neuron, steps=2, batch=1, dtype=torch.float64).requires_grad_(True)

    def trajectory(c: torch.Tensor) -> torch.Tensor:  # every state variable at every step, through step()
        state, out = neuron.initial_state(c.shape[1], c.device, c.dtype), []
        for t in range(c.shape[0]):
            _, state = neuron.step(c[t], state)
            out += [s.reshape(-1) for s in state]
        return torch.cat(out)

    try:
        ok = torch.autograd.gradcheck(trajectory, (x,), eps=1e-6, atol=1e-5, rtol=1e-4, raise_exception=False)
    except RuntimeError as exc:
        raise _fail(neuron, "step", f"gradcheck could not run: {exc}") from None
    if not ok:
        raise _fail(neuron, "step", "in float64, with a smooth spike function, autograd's gradient of the state "
                    "trajectory differs from finite differences: an operation breaks the gradient (an in-place "
                    "change of a saved tensor, .data, a detach where none belongs)")


def has_own_window(neuron: Neuron) -> bool:
    """Whether the model runs its window its own way (a fused window) rather than the eager loop of ``step``."""
    return type(neuron).window is not Neuron.window


def check_fused(factory: Factory) -> None:
    neuron = factory((3, 4))
    if not has_own_window(neuron):
        return
    x = currents(neuron)
    for xs in (x, x[0].unsqueeze(0).expand_as(x)):  # a time-varying and a static (expanded) input
        a = xs.detach().clone().requires_grad_(True) if xs.stride(0) else xs[0].detach().clone().requires_grad_(True)
        b = a.detach().clone().requires_grad_(True)
        inp_a = a if xs.stride(0) else a.unsqueeze(0).expand_as(x)
        inp_b = b if xs.stride(0) else b.unsqueeze(0).expand_as(x)
        fused = neuron(inp_a)
        eager = Neuron.window(neuron, inp_b)
        if not torch.equal(fused, eager):
            raise _fail(neuron, "window", "the fused window's spikes differ from the eager loop of step()")
        weight = torch.linspace(-1, 1, fused.numel()).reshape(fused.shape)
        (fused * weight).sum().backward()
        (eager * weight).sum().backward()
        if not torch.allclose(a.grad, b.grad, rtol=1e-4, atol=1e-6):
            worst = float((a.grad - b.grad).abs().max())
            raise _fail(neuron, "window", f"the fused window's gradient differs from autograd's through step() "
                        f"(largest difference {worst:.3g})")


@dataclass
class Ops:
    """Arithmetic counted per element: MUL (mul, div, each extra factor of an integer power, the products of a
    dot product) and ADD (add, sub, negation, comparisons, the additions of a dot product; a bias is not counted,
    as in the paper's rules). Exponentials, selections (where, clamp, maximum) and copies are not counted."""

    mul: int = 0
    add: int = 0


_MUL_OPS = {"mul", "div"}
_ADD_OPS = {"add", "sub", "rsub", "gt", "lt", "ge", "le", "neg"}


def measured_ops(neuron: Neuron) -> Ops:
    """The arithmetic one ``step`` performs, per unit (counted on a batch of one)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    ops = Ops()

    class Counter(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            name = func.overloadpacket.__name__.rstrip("_")
            n = out.numel() if torch.is_tensor(out) else 0
            if name == "add" and any(isinstance(a, torch.nn.Parameter) for a in args):
                pass  # a bias: not counted (the paper's rules)
            elif name in _MUL_OPS:
                ops.mul += n
            elif name in _ADD_OPS:
                ops.add += n
            elif name == "pow" and isinstance(args[1], int) and args[1] >= 2:
                ops.mul += n * (args[1] - 1)
            elif name in ("addmm", "mm", "matmul", "bmm", "addmv"):
                k = args[-1].shape[0] if name in ("addmm", "mm", "bmm") else args[-1].shape[-1]
                ops.mul, ops.add = ops.mul + n * k, ops.add + n * (k - 1)
            return out

    state = neuron.initial_state(1)
    x = torch.ones(1, *_unit(neuron, neuron.inputs_per_unit))
    with torch.no_grad(), Counter():
        neuron.step(x, state)
    units = neuron.num_units
    return Ops(ops.mul // units, ops.add // units)


def check_arithmetic(factory: Factory) -> None:
    neuron = factory(3)
    declared = neuron.ops_per_step
    if declared is None:
        return  # not counted by hhlif flops, which says so
    got = measured_ops(neuron)
    if sum(declared) != got.mul + got.add:
        raise _fail(neuron, "ops_per_step", f"declares (MUL, ADD) = {tuple(declared)}, {sum(declared)} operations "
                    f"per unit and step, but step() performs {got.mul + got.add} ({got.mul} MUL, {got.add} ADD, "
                    "comparisons counted as ADD, see hhlif.testing.measured_ops)")


def _roundtrip(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def check_checkpoint(factory: Factory) -> None:
    torch.manual_seed(7)
    saved = factory(5)
    torch.manual_seed(8)
    loaded = factory(5)
    try:
        loaded.load_state_dict(_roundtrip(saved.state_dict()))
    except Exception as exc:
        raise _fail(saved, "state_dict", f"does not survive torch.save/torch.load(weights_only=True): {exc}") from None
    x = currents(saved)
    if not torch.equal(saved(x), loaded(x)):
        raise _fail(saved, "load_state_dict", "a model loaded from the saved state_dict spikes differently: keep "
                    "everything drawn at construction in parameters or buffers")
    state = saved.initial_state(B)
    for t in range(3):
        _, state = saved.step(x[t], state)
    restored = _roundtrip(tuple(s.detach() for s in state))
    ahead = [saved.step(x[t], s)[0] for t, s in ((3, state), (3, restored))]
    if not torch.equal(*ahead):
        raise _fail(saved, "step", "a state saved mid-window and loaded back continues differently")


CHECKS: dict[str, Callable[[Factory], None]] = {
    "shapes": check_shapes, "determinism": check_determinism, "gradient": check_gradient,
    "gradcheck": check_gradcheck, "fused": check_fused, "arithmetic": check_arithmetic,
    "checkpoint": check_checkpoint,
}


def check_neuron(factory: Factory) -> dict[str, str | None]:
    """Run every check; ``{check: None (passed) or the problem}``."""
    results: dict[str, str | None] = {}
    for name, check in CHECKS.items():
        try:
            check(factory)
            results[name] = None
        except ContractError as exc:
            results[name] = str(exc)
        except Exception as exc:  # the model itself raised: name the check and the error
            results[name] = f"{type(exc).__name__}: {exc}"
    return results
