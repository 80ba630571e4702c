"""Write the PyTorch files the tests read (tests/data/torch/).

For tests/safetensors_io.rs: torch.save's files in each form PyTorch
writes, holding the state dict of a small VanillaNet (n_c = 1, n_f = 2),
with the same tensors saved with safetensors to check them against; and
files that are not a state dict, which ebmscope refuses.

For tests/torch_reference.rs (`--only energies`): PyTorch's own energies
F(x) and input gradients of ToyNet, VanillaNet and NonlocalNet (its W not
zero, so that attention counts), computed in float64 from float32 weights
and inputs: what ebmscope's CPU reference and kernels must reproduce.

Run once by hand (the files are committed; tests need no PyTorch): a
virtual environment with torch and safetensors, then
`python scripts/torch_fixtures.py [--only files|energies]`.
"""
import argparse
import os
import sys

import numpy as np

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(__file__))
import bench_torch  # noqa: E402
from bench_torch import NonlocalNet, ToyNet, VanillaNet  # noqa: E402  (the reference nets, written from PAPER.md)

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "torch")


def energies():
    """energies-NET.safetensors (the weights, float32) and
    energies-NET-io.safetensors (x float32; energy and grad float64)."""
    # LeakyReLU's slope as float32 holds it (0.05 rounded), as PyTorch's
    # float32 nets apply it and ebmscope does: in float64 its 0.05 would
    # differ from theirs by 1.5e-8 of every negative input.
    bench_torch.LEAK = float(np.float32(0.05))
    torch.manual_seed(1)
    nets = [
        ("toy", ToyNet(), [5, 2, 1, 1]),
        ("vanilla", VanillaNet(1, 2), [3, 1, 32, 32]),
        ("nonlocal", NonlocalNet(3, 2), [2, 3, 32, 32]),
    ]
    for name, net, shape in nets:
        with torch.no_grad():
            for module in net.modules():
                # W is zero at initialisation: made not so, the attention
                # reaches F (its softmax axis, its pooling) and is checked.
                if hasattr(module, "W"):
                    module.W.weight.uniform_(-0.5, 0.5)
                    module.W.bias.uniform_(-0.5, 0.5)
        sd = {k: v.float().contiguous() for k, v in net.state_dict().items()}
        save_file(sd, os.path.join(OUT, f"energies-{name}.safetensors"))
        x = torch.rand(shape) * 2 - 1
        net = net.double()
        x64 = x.double().requires_grad_(True)
        energy = net(x64)
        (grad,) = torch.autograd.grad(energy.sum(), x64)
        io = {"x": x.contiguous(), "energy": energy.detach().contiguous(), "grad": grad.contiguous()}
        save_file(io, os.path.join(OUT, f"energies-{name}-io.safetensors"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=["files", "energies"])
    only = parser.parse_args().only
    os.makedirs(OUT, exist_ok=True)
    if only != "files":
        energies()
    if only != "energies":
        state_dict_files()


def state_dict_files():
    torch.manual_seed(0)
    net = VanillaNet(1, 2)
    sd = net.state_dict()
    path = lambda name: os.path.join(OUT, name)  # noqa: E731

    # The tensors every readable file holds, as f32 (half: as it rounds).
    save_file({k: v.contiguous() for k, v in sd.items()}, path("vanilla.safetensors"))
    save_file({k: v.half().float() for k, v in sd.items()}, path("vanilla-half.safetensors"))

    # Each form torch.save writes: the zip (PyTorch >= 1.6), with pickle
    # protocol 2 (the default) and 4; the older pickles (the authors'
    # released nets are of that time).
    torch.save(sd, path("vanilla-zip.pth"))
    torch.save(sd, path("vanilla-zip-p4.pth"), pickle_protocol=4)
    # (A zip whose folder, named after the file, has 21 characters: its
    # first record is then as long as the zip64 records PyTorch writes.)
    torch.save(sd, path("vanilla-zip-stem21chr.pth"))
    torch.save(sd, path("vanilla-legacy.pth"), _use_new_zipfile_serialization=False)
    torch.save(sd, path("vanilla-legacy-p4.pth"), _use_new_zipfile_serialization=False, pickle_protocol=4)
    torch.save({k: v.half() for k, v in sd.items()}, path("vanilla-half.pth"))
    # Parameters, not tensors (named_parameters, not state_dict).
    torch.save(dict(net.named_parameters()), path("vanilla-parameters.pth"))
    # Views: a weight with strides not those of its shape, one negated
    # lazily (its neg bit), and the biases at offsets in one storage they
    # share.
    views = {k: v for k, v in sd.items()}
    views["f.2.weight"] = sd["f.2.weight"].permute(1, 0, 2, 3).contiguous().permute(1, 0, 2, 3)
    views["f.0.weight"] = torch._neg_view(-sd["f.0.weight"])
    assert views["f.0.weight"].is_neg()
    biases = [k for k in sd if k.endswith(".bias")]
    shared = torch.cat([sd[k] for k in biases])
    at = 0
    for k in biases:
        views[k] = shared[at:at + sd[k].numel()]
        at += sd[k].numel()
    assert not views["f.2.weight"].is_contiguous()
    assert all(torch.equal(views[k], sd[k]) for k in sd)
    torch.save(views, path("vanilla-views.pth"))
    torch.save(views, path("vanilla-views-legacy.pth"), _use_new_zipfile_serialization=False)

    # ToyNet's, for `sample` on toy data (tests/training.rs).
    torch.save(ToyNet().state_dict(), path("toy.pth"))

    # Not a state dict: refused, each with its own message.
    torch.save(net, path("whole-model.pth"))
    torch.jit.save(torch.jit.script(net), path("torchscript.pth"))
    # A training checkpoint holding one state dict is read as that (its
    # tensors are vanilla.safetensors': copied before the optimizer's step,
    # since a state dict's tensors are the parameters themselves); one
    # holding two is refused.
    model = {k: v.clone() for k, v in sd.items()}
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    net(torch.zeros(1, 1, 32, 32)).sum().backward()
    opt.step()
    torch.save({"model": model, "optimizer": opt.state_dict(), "iteration": 3}, path("training-state.pth"))
    ema = {k: v * 0.5 for k, v in model.items()}
    torch.save({"model": model, "ema": ema, "iteration": 3}, path("two-state-dicts.pth"))
    # Beside the state dict, objects a state dict has no use for (read as
    # it); a state dict of NumPy arrays (refused, naming them).
    args = argparse.Namespace(lr=1e-4, n_f=2)
    beside = {"args": args, "best": np.float64(0.9), "device": torch.device("cpu"), "shape": torch.Size([2]),
              "dtype": torch.float32, "tags": {"ebm"}, "epoch": 3}
    torch.save({"model": model, **beside}, path("with-objects.pth"))
    torch.save({k: v.numpy() for k, v in model.items()}, path("numpy-arrays.pth"))
    # Lightning's checkpoint: the state dict under "state_dict", its names
    # under the LightningModule's attribute (refused, with a line that
    # reaches it).
    net_names = {"net." + k: v for k, v in model.items()}
    torch.save({"epoch": 3, "global_step": 10, "state_dict": net_names, "hparams_name": "kwargs"}, path("lightning.pth"))
    torch.save({**sd, "steps": torch.tensor(3)}, path("integer-tensor.pth"))
    # Averaging wrappers: swa_utils.AveragedModel's (`module.` and an int64
    # `n_averaged`) and ema-pytorch's (two models under prefixes, a bool and
    # an int64 beside them): each refused once, with a line that saves one.
    averaged = torch.optim.swa_utils.AveragedModel(net)
    averaged.load_state_dict({**{"module." + k: v for k, v in model.items()}, "n_averaged": torch.tensor(2)})
    torch.save(averaged.state_dict(), path("averaged-model.pth"))
    ema_names = {**{"ema_model." + k: v for k, v in ema.items()}, **{"online_model." + k: v for k, v in model.items()}}
    torch.save({"initted": torch.tensor(True), "step": torch.tensor(7), **ema_names}, path("ema-pytorch.pth"))


if __name__ == "__main__":
    main()
