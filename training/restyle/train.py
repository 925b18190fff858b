"""``antiphon train restyle``: a CycleGAN between two style families of groove bars.

Example (the model of ``docs/models/restyle-grooves.md``)::

    antiphon -v train restyle --data data/ --out runs/restyle --classifier runs/style-classifier/best.pt

Two generators (``g_ab``: a bar of style A as style B, ``g_ba`` back) and two critics (WGAN-GP, or
LSGAN with ``--critic lsgan``), on
unpaired bars of the two families (:mod:`training.restyle.families`), each bar in a random key.
A generator's loss is the critic's, plus ``--cycle`` times the round trip's cross-entropy against
the source bar (``g_ba(g_ab(a))`` against ``a``) and ``--identity`` times a bar of the target style
passed through unchanged. The critics and the round trip see the generator's bar binarised at
0.5 (straight-through gradients), the bar a player would hear, so no hidden low values can
carry the source back. The learning rate is constant for the first half of the fixed step count
and falls linearly to 0 over the second (as CycleGAN). Every ``--eval-every`` steps the
validation bars are transferred both ways and measured (the classifier's share judged the target
style if ``--classifier`` is given, chroma similarity, onset overlap, cycle error); ``last.pt``
(for ``--resume``) is written and a picture of source / transfer / round trip goes to
``samples/stepNNNNNN.png``. The exported model is the last step's.

Batches of step ``s`` are drawn from ``(seed, s)`` and ``last.pt`` keeps torch's random state (the
gradient penalty's draws), so a resumed run is the uninterrupted run.
torch is imported only inside :func:`main`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
CRITIC_LOSSES = ("lsgan", "wgan-gp")
GP_WEIGHT = 10.0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=Path("data"), help="folder `antiphon train data` wrote")
    parser.add_argument("--out", type=Path, required=True, help="run folder (last.pt, metrics.csv, samples)")
    parser.add_argument("--styles", default="rock,latin", help="the two style families A,B")
    parser.add_argument("--classifier", type=Path, default=None,
                        help="a style-classifier checkpoint to judge the validation transfers by")
    parser.add_argument("--steps", type=int, default=4000, help="optimiser steps in all")
    parser.add_argument("--batch-size", type=int, default=32, help="bars of each style per step")
    parser.add_argument("--eval-every", type=int, default=500, help="steps between validations and pictures")
    parser.add_argument("--log-every", type=int, default=100, help="steps between progress lines")
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--cycle", type=float, default=10.0, help="weight of the cycle-consistency loss")
    parser.add_argument("--identity", type=float, default=2.0, help="weight of the identity loss")
    parser.add_argument("--critic", choices=CRITIC_LOSSES, default="wgan-gp",
                        help="critic loss: lsgan (least squares) or wgan-gp (Wasserstein, gradient penalty 10)")
    parser.add_argument("--g-channels", type=int, default=128)
    parser.add_argument("--g-blocks", type=int, default=4)
    parser.add_argument("--d-channels", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")


def learning_rate(args: argparse.Namespace, step: int) -> float:
    half = args.steps // 2
    return args.lr if step <= half else args.lr * max(0.0, (args.steps - step) / max(1, args.steps - half))


def critic_losses(kind: str, critic: Any, real: Any, fake: Any) -> Any:
    """The critic's loss on a batch of real and (detached) fake bars."""
    if kind == "lsgan":
        return 0.5 * (((critic(real) - 1) ** 2).mean() + (critic(fake) ** 2).mean())
    import torch

    mix = torch.rand(real.shape[0], 1, 1, 1)
    between = (mix * real + (1 - mix) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(between).sum(), between, create_graph=True)
    penalty = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
    return critic(fake).mean() - critic(real).mean() + GP_WEIGHT * penalty


def generator_adversarial(kind: str, critic: Any, fake: Any) -> Any:
    """The generator's adversarial loss on its (binarised) bars."""
    return ((critic(fake) - 1) ** 2).mean() if kind == "lsgan" else -critic(fake).mean()


def transfer(generator: Any, bars: np.ndarray) -> np.ndarray:
    """Bars through a generator, binarised at 0.5, in batches, no gradients: bool ``(N, T, S, P)``."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(bars), 256):
            out.append(generator(torch.from_numpy(np.asarray(bars[i:i + 256], np.float32))).numpy() > 0.5)
    return np.concatenate(out) if out else np.zeros((0, *bars.shape[1:]), bool)


def main(args: argparse.Namespace) -> int:
    import torch
    from torch.nn import functional as F

    from training.restyle import checkpoint
    from training.restyle.data import load_style_bars, sample_bars
    from training.restyle.model import (
        Critic,
        Generator,
        RestyleConfig,
        binarise_straight_through,
        count_parameters,
    )
    from training.restyle.report import validate

    torch.set_num_threads(args.threads)
    styles = [s.strip() for s in args.styles.split(",") if s.strip()]
    if len(styles) != 2 or styles[0] == styles[1]:
        raise SystemExit(f"--styles needs two different families A,B (got {args.styles!r})")
    train, valid = load_style_bars(args.data, "train", styles), load_style_bars(args.data, "valid", styles)
    log.info("%s", train.describe("train"))
    log.info("%s", valid.describe("valid"))
    spec = train.spec
    t, s, p = spec.bar_shape
    config = RestyleConfig(t, s, p, tuple(tr.rows for tr in spec.tracks), g_channels=args.g_channels,
                           g_blocks=args.g_blocks, d_channels=args.d_channels)
    judge = checkpoint.classifier(checkpoint.load(args.classifier, checkpoint.CLASSIFIER_KIND)) if args.classifier \
        else None
    judge_families = checkpoint.load(args.classifier, checkpoint.CLASSIFIER_KIND)["families"] if judge else []

    torch.manual_seed(args.seed)
    g_ab, g_ba, d_a, d_b = Generator(config), Generator(config), Critic(config), Critic(config)
    g_opt = torch.optim.Adam([*g_ab.parameters(), *g_ba.parameters()], lr=args.lr, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam([*d_a.parameters(), *d_b.parameters()], lr=args.lr, betas=(0.5, 0.999))
    step = 0
    last = args.out / "last.pt"
    if args.resume and last.exists():
        payload = checkpoint.load(last, checkpoint.RESTYLE_KIND)
        if list(payload["styles"]) != styles or payload["config"] != config:
            raise SystemExit(f"{last} was trained on {','.join(payload['styles'])} with {payload['config']}; resume "
                             f"it with the same --styles and sizes, or give another --out")
        for net, name in ((g_ab, "g_ab"), (g_ba, "g_ba"), (d_a, "d_a"), (d_b, "d_b")):
            net.load_state_dict(payload[name])
        g_opt.load_state_dict(payload["g_opt"])
        d_opt.load_state_dict(payload["d_opt"])
        step = int(payload["step"])
        if "torch_rng" in payload:  # the gradient penalty's draws go on as in the uninterrupted run
            torch.set_rng_state(payload["torch_rng"])
        log.info("resumed at step %d", step)
    log.info("generators %s parameters each, critics %s", f"{count_parameters(g_ab):,}", f"{count_parameters(d_a):,}")
    bce = F.binary_cross_entropy_with_logits
    sums: dict[str, float] = {}
    while step < args.steps:
        step += 1
        rng = np.random.default_rng((args.seed, step))
        a = torch.from_numpy(sample_bars(train.bars[styles[0]], args.batch_size, rng, spec))
        b = torch.from_numpy(sample_bars(train.bars[styles[1]], args.batch_size, rng, spec))
        for group in (*g_opt.param_groups, *d_opt.param_groups):
            group["lr"] = learning_rate(args, step)
        for net in (g_ab, g_ba, d_a, d_b):
            net.train()
        fake_b = binarise_straight_through(g_ab(a))
        fake_a = binarise_straight_through(g_ba(b))
        adversarial = generator_adversarial(args.critic, d_b, fake_b) + generator_adversarial(args.critic, d_a, fake_a)
        cycle = bce(g_ba.logits(fake_b), a) + bce(g_ab.logits(fake_a), b)
        identity = bce(g_ab.logits(b), b) + bce(g_ba.logits(a), a)
        g_loss = adversarial + args.cycle * cycle + args.identity * identity
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        fake_a, fake_b = fake_a.detach(), fake_b.detach()
        d_loss = critic_losses(args.critic, d_a, a, fake_a) + critic_losses(args.critic, d_b, b, fake_b)
        d_opt.zero_grad()
        d_loss.backward()
        d_opt.step()
        for key, value in (("adv", adversarial), ("cycle", cycle), ("identity", identity), ("critic", d_loss)):
            sums[key] = sums.get(key, 0.0) + float(value.detach())
        if step % args.log_every == 0:
            log.info("step %d/%d  %s  lr %.2e", step, args.steps,
                     "  ".join(f"{k} {v / args.log_every:.4f}" for k, v in sums.items()), learning_rate(args, step))
            sums = {}
        if step % args.eval_every == 0 or step == args.steps:
            for net in (g_ab, g_ba):
                net.eval()
            validate(args.out, step, styles, valid, (g_ab, g_ba), judge, judge_families, transfer)
            checkpoint.save(last, checkpoint.RESTYLE_KIND, config, g_ab=g_ab.state_dict(), g_ba=g_ba.state_dict(),
                            d_a=d_a.state_dict(), d_b=d_b.state_dict(), g_opt=g_opt.state_dict(),
                            d_opt=d_opt.state_dict(), step=step, styles=styles, spec=spec.to_dict(),
                            torch_rng=torch.get_rng_state(),
                            training={k: str(v) for k, v in vars(args).items() if not callable(v)},
                            files={f: list(train.files[f]) for f in styles})
    log.info("done: %s", last)
    return 0
