"""The predictor's torch network: an MLP over the fp32 encoding, plus APQ's bit branch.

    h1 = relu(W0 x_fp32 + b0) + (Wq x_bits + bq)      (the bit term only when ``bit_dim > 0``)
    h  = relu(W_i h + b_i),  i = 1 .. n_layers-1
    y  = w_out . h + b_out                            accuracy in percent

The bit branch is added to the first hidden layer's *output*, as in APQ's released predictor
(``utils/accuracy_predictor.py``: ``layers[0](x_fp32) + quantize_fc(x_bits)``), so APQ's
checkpoints import exactly. ``bit_merge="before_relu"`` adds it to the pre-activation instead.
"""
from __future__ import annotations

import itertools

import torch
from torch import nn

BIT_MERGES = ("after_relu", "before_relu")


class AccuracyMLP(nn.Module):
    """Input (N, fp32_dim + bit_dim) float32 -> predicted accuracy (N,) in percent."""

    def __init__(self, fp32_dim: int, bit_dim: int = 0, hidden_size: int = 400, n_layers: int = 3,
                 bit_merge: str = "after_relu"):
        super().__init__()
        if bit_merge not in BIT_MERGES or n_layers < 1 or min(fp32_dim, hidden_size) < 1 or bit_dim < 0:
            raise ValueError(f"bad AccuracyMLP shape: fp32_dim={fp32_dim} bit_dim={bit_dim} "
                             f"hidden={hidden_size} layers={n_layers} merge={bit_merge}")
        self.fp32_dim, self.bit_dim, self.bit_merge = fp32_dim, bit_dim, bit_merge
        widths = [fp32_dim] + [hidden_size] * n_layers
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.bit_branch = nn.Linear(bit_dim, hidden_size) if bit_dim else None
        self.output = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.hidden[0](x[:, : self.fp32_dim])
        bits = self.bit_branch(x[:, self.fp32_dim:]) if self.bit_branch is not None else None
        return self._after_first_layer(h, bits)

    def forward_hot(self, fp32_cols: torch.Tensor, fp32_on: torch.Tensor, bit_cols: torch.Tensor,
                    bit_on: torch.Tensor) -> torch.Tensor:
        """``forward(x)`` for a 0/1 input given by where its ones are (see
        :class:`apq.space.encoding.HotIndices`): the first layer (and the bit branch) become a sum
        of weight columns, so the dense input is never built. Same outputs as ``forward`` up to
        float32 summation order. Indices int64 (N, K), ``*_on`` float32 (N, K) -> (N,) percent."""
        h = linear_of_ones(self.hidden[0], fp32_cols, fp32_on)
        bits = linear_of_ones(self.bit_branch, bit_cols, bit_on) if self.bit_branch is not None else None
        return self._after_first_layer(h, bits)

    def _after_first_layer(self, h: torch.Tensor, bits: torch.Tensor | None) -> torch.Tensor:
        """From the first layer's pre-activation (N, hidden) and the bit branch's output to (N,)."""
        if bits is not None and self.bit_merge == "before_relu":
            h = h + bits
        h = torch.relu(h)
        if bits is not None and self.bit_merge == "after_relu":
            h = h + bits
        for layer in itertools.islice(self.hidden, 1, None):  # slicing a ModuleList builds a new Module
            h = torch.relu(layer(h))
        return self.output(h).squeeze(-1)

    def shape(self) -> dict:
        """Constructor arguments, saved with checkpoints to rebuild the network."""
        return {"fp32_dim": self.fp32_dim, "bit_dim": self.bit_dim, "hidden_size": self.output.in_features,
                "n_layers": len(self.hidden), "bit_merge": self.bit_merge}

    def param_groups(self, lr: float, bit_lr: float | None = None) -> list[dict]:
        """Optimiser parameter groups: the bit branch at ``bit_lr`` (default ``lr``), the rest at ``lr``."""
        bits = list(self.bit_branch.parameters()) if self.bit_branch is not None else []
        shared = [p for name, p in self.named_parameters() if not name.startswith("bit_branch.")]
        groups = [{"params": shared, "lr": lr}]
        return groups + ([{"params": bits, "lr": bit_lr if bit_lr is not None else lr}] if bits else [])

    def load_shared(self, fp32_net: "AccuracyMLP") -> None:
        """Copy every weight of an fp32 network (hidden layers, output) and zero the bit branch,
        so that this network computes exactly what ``fp32_net`` does until it is fine-tuned."""
        shared = {k: v for k, v in fp32_net.state_dict().items() if not k.startswith("bit_branch.")}
        missing, unexpected = self.load_state_dict(shared, strict=False)
        if unexpected or any(not k.startswith("bit_branch.") for k in missing):
            raise ValueError(f"fp32 network does not fit: missing {missing}, unexpected {unexpected}")
        if self.bit_branch is not None:
            nn.init.zeros_(self.bit_branch.weight)
            nn.init.zeros_(self.bit_branch.bias)


def linear_of_ones(layer: nn.Linear, cols: torch.Tensor, on: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` for x (N, in) that is ``on`` (N, K) at columns ``cols`` (N, K) and 0 elsewhere:
    the bias plus the weighted sum of K weight columns, one embedding-bag lookup (N, out)."""
    return nn.functional.embedding_bag(cols, _weight_rows(layer), per_sample_weights=on, mode="sum") + layer.bias


def whole_encoding(fp32_dim: int, fp32_cols: torch.Tensor, fp32_on: torch.Tensor, bit_cols: torch.Tensor,
                   bit_on: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(cols, on) of the whole encoding's ones from its fp32 and bit parts' (bit columns shifted
    past the fp32 part), for :func:`linear_of_ones` over the whole encoding."""
    return torch.cat([fp32_cols, bit_cols + fp32_dim], dim=1), torch.cat([fp32_on, bit_on], dim=1)


def _weight_rows(layer: nn.Linear) -> torch.Tensor:
    """``layer.weight`` transposed to (in, out) rows for embedding_bag, cached on the layer until the
    weight changes (a new tensor, or an in-place update, which bumps its version counter): the copy
    costs as much as a small batch's lookups, and the search reuses the same weights for every batch."""
    weight = layer.weight
    key = (weight.data_ptr(), weight._version, weight.device, weight.dtype)
    cached = getattr(layer, "_apq_weight_rows", None)
    if cached is None or cached[0] != key:
        cached = (key, weight.detach().t().contiguous())
        layer._apq_weight_rows = cached
    return cached[1]


class StructuredQuantNet(nn.Module):
    """Quantized accuracy = the fp32 network's accuracy of the architecture minus a learned drop
    of the bit policy, taken in logit space between chance and 100 %:

        a   = (base(x_fp32) - floor) / (100 - floor)           clipped to [1e-4, 1 - 1e-4]
        acc = floor + (100 - floor) * sigmoid(logit(a) - drop(x))

    so small drops subtract about linearly near the fp32 accuracy and large ones (2-bit layers)
    saturate at chance instead of going below it. ``drop`` is ``"linear"`` (one weight per bit
    choice of each block and gene: the bit part of the encoding only), ``"linear_arch"`` (linear
    over the whole encoding: the architecture's one-hots shift the drop too) or ``"mlp"`` (one hidden
    ReLU layer over the whole encoding, so a block's drop may depend on its width and kernel).
    The base network is frozen: only the drop learns.

    The linear drops' weights on the bit part are kept >= 0 (:meth:`project`, after every training
    step): a layer's bits can only cost accuracy. Unconstrained, each weight fitted noise of a few
    hundredths of a logit either way, and the genetic search summed the negative ones of 40 bit
    genes into a quantized network predicted 4 points above its fp32 architecture
    (docs/decisions.md "Predictor").
    """

    DROPS = ("linear", "linear_arch", "mlp")

    def __init__(self, base: AccuracyMLP, bit_dim: int, drop: str = "linear", hidden_size: int = 64,
                 floor: float = 10.0):
        super().__init__()
        if drop not in self.DROPS or bit_dim < 1 or base.bit_dim or not 0 <= floor < 100:
            raise ValueError(f"bad StructuredQuantNet: drop={drop} bit_dim={bit_dim} base bit_dim={base.bit_dim} "
                             f"floor={floor}")
        self.base, self.drop_kind, self.floor = base, drop, float(floor)
        self.fp32_dim, self.bit_dim, self.hidden_size = base.fp32_dim, bit_dim, hidden_size
        for p in self.base.parameters():
            p.requires_grad_(False)
        if drop == "linear":
            self.drop = nn.Linear(bit_dim, 1)
        elif drop == "linear_arch":
            self.drop = nn.Linear(self.fp32_dim + bit_dim, 1)
        else:
            self.drop = nn.Sequential(nn.Linear(self.fp32_dim + bit_dim, hidden_size), nn.ReLU(),
                                      nn.Linear(hidden_size, 1))

    def base_logit(self, base_acc: torch.Tensor) -> torch.Tensor:
        """logit of the base network's accuracy (N,) on the chance-to-100 % scale."""
        share = ((base_acc - self.floor) / (100.0 - self.floor)).clamp(1e-4, 1 - 1e-4)
        return torch.log(share) - torch.log1p(-share)

    def _combine(self, base_acc: torch.Tensor, drop: torch.Tensor) -> torch.Tensor:
        return self.floor + (100.0 - self.floor) * torch.sigmoid(self.base_logit(base_acc) - drop.squeeze(-1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        drop_input = x[:, self.fp32_dim:] if self.drop_kind == "linear" else x
        return self._combine(self.base(x[:, : self.fp32_dim]), self.drop(drop_input))

    def forward_hot(self, fp32_cols: torch.Tensor, fp32_on: torch.Tensor, bit_cols: torch.Tensor,
                    bit_on: torch.Tensor) -> torch.Tensor:
        """``forward`` from where the encoding's ones are (see :meth:`AccuracyMLP.forward_hot`)."""
        base = self.base.forward_hot(fp32_cols, fp32_on, bit_cols, bit_on)
        if self.drop_kind == "linear":
            drop = linear_of_ones(self.drop, bit_cols, bit_on)
        elif self.drop_kind == "linear_arch":
            drop = linear_of_ones(self.drop, *whole_encoding(self.fp32_dim, fp32_cols, fp32_on, bit_cols, bit_on))
        else:
            hidden = linear_of_ones(self.drop[0], *whole_encoding(self.fp32_dim, fp32_cols, fp32_on, bit_cols, bit_on))
            drop = self.drop[2](torch.relu(hidden))
        return self._combine(base, drop)

    def shape(self) -> dict:
        return {"type": "structured", "base": self.base.shape(), "bit_dim": self.bit_dim, "drop": self.drop_kind,
                "hidden_size": self.hidden_size, "floor": self.floor}

    def param_groups(self, lr: float, bit_lr: float | None = None) -> list[dict]:
        """Only the drop learns (``bit_lr`` is not used)."""
        return [{"params": list(self.drop.parameters()), "lr": lr}]

    def output_layer(self) -> nn.Linear:
        """The drop's last layer (its bias starts at the mean drop of the training rows)."""
        return self.drop if self.drop_kind != "mlp" else self.drop[2]

    @torch.no_grad()
    def project(self) -> None:
        """Clip the linear drops' bit-part weights to >= 0 (architecture weights and bias stay free);
        the MLP drop is not constrained."""
        if self.drop_kind == "linear":
            self.drop.weight.clamp_(min=0.0)
        elif self.drop_kind == "linear_arch":
            self.drop.weight[:, self.fp32_dim:].clamp_(min=0.0)


class LinearOnBaseNet(nn.Module):
    """Quantized accuracy = ``scale`` x the fp32 network's accuracy of the architecture plus a linear
    term over the whole encoding (weights fitted in closed form by
    :class:`apq.predictor.structured.RidgeQuantPredictor`; nothing here is trained by gradient)."""

    def __init__(self, base: AccuracyMLP, bit_dim: int):
        super().__init__()
        if bit_dim < 1 or base.bit_dim:
            raise ValueError(f"bad LinearOnBaseNet: bit_dim={bit_dim} base bit_dim={base.bit_dim}")
        self.base, self.fp32_dim, self.bit_dim = base, base.fp32_dim, bit_dim
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.scale = nn.Parameter(torch.ones(()), requires_grad=False)
        self.linear = nn.Linear(self.fp32_dim + bit_dim, 1).requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.base(x[:, : self.fp32_dim]) + self.linear(x).squeeze(-1)

    def forward_hot(self, fp32_cols: torch.Tensor, fp32_on: torch.Tensor, bit_cols: torch.Tensor,
                    bit_on: torch.Tensor) -> torch.Tensor:
        """``forward`` from where the encoding's ones are (see :meth:`AccuracyMLP.forward_hot`)."""
        base = self.base.forward_hot(fp32_cols, fp32_on, bit_cols, bit_on)
        whole = whole_encoding(self.fp32_dim, fp32_cols, fp32_on, bit_cols, bit_on)
        return self.scale * base + linear_of_ones(self.linear, *whole).squeeze(-1)

    def shape(self) -> dict:
        return {"type": "linear_on_base", "base": self.base.shape(), "bit_dim": self.bit_dim}


class MeanEnsembleNet(nn.Module):
    """The mean of several networks' predictions over the same encoding, minus ``spread_penalty``
    times their standard deviation (0: the plain mean; see :func:`pessimistic_mean`)."""

    def __init__(self, members: list[nn.Module], spread_penalty: float = 0.0):
        super().__init__()
        if not members or len({(m.fp32_dim, m.bit_dim) for m in members}) != 1 or spread_penalty < 0:
            raise ValueError("an ensemble needs at least one member, all of one encoding width, and a spread "
                             "penalty >= 0")
        self.members = nn.ModuleList(members)
        self.fp32_dim, self.bit_dim = members[0].fp32_dim, members[0].bit_dim
        self.spread_penalty = float(spread_penalty)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pessimistic_mean(torch.stack([m(x) for m in self.members]), self.spread_penalty)

    def forward_hot(self, *hot: torch.Tensor) -> torch.Tensor:
        return pessimistic_mean(torch.stack([m.forward_hot(*hot) for m in self.members]), self.spread_penalty)

    def shape(self) -> dict:
        return {"type": "ensemble", "members": [m.shape() for m in self.members], "spread_penalty": self.spread_penalty}


def pessimistic_mean(predictions, penalty: float):
    """Mean over the first axis of (members, N) predictions minus ``penalty`` x their population
    standard deviation: where the members disagree (one extrapolating far from its training rows)
    the ensemble trusts none of them. A torch tensor or numpy array in, the same kind (N,) out."""
    if penalty == 0:
        return predictions.mean(0)
    std = predictions.std(0, correction=0) if isinstance(predictions, torch.Tensor) else predictions.std(0)
    return predictions.mean(0) - penalty * std


def build_network(shape: dict) -> nn.Module:
    """An untrained network of a saved ``shape()`` (an :class:`AccuracyMLP`'s has no ``type``)."""
    kind = shape.get("type", "mlp")
    if kind == "structured":
        return StructuredQuantNet(build_network(shape["base"]), shape["bit_dim"], shape["drop"],
                                  shape["hidden_size"], shape["floor"])
    if kind == "linear_on_base":
        return LinearOnBaseNet(build_network(shape["base"]), shape["bit_dim"])
    if kind == "ensemble":
        return MeanEnsembleNet([build_network(member) for member in shape["members"]],
                               shape.get("spread_penalty", 0.0))
    if kind != "mlp":
        raise ValueError(f"unknown network type {kind!r}")
    return AccuracyMLP(**{k: v for k, v in shape.items() if k != "type"})
