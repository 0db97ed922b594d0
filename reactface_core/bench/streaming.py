"""Online generator cost per window: cached streaming vs naive recompute-everything.

Times one window (w new speaker frames and their audio in, N sampled reaction windows
out) of `ReactionGenerator` at t=64 and at t=750 frames, by restoring the generator's
state at t-w and pushing the same window again `--repeats` times. The naive step is what
the public reference implementation does every window: run the offline forward on the
whole history (t frames) and keep its last window. Same model, same inputs, one run.

Example: reactface bench streaming --samples 10 --window 8 --threads 2
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from dataclasses import replace

from reactface_core.bench import machine_load, reference_ms
from reactface_core.cli import usage_error


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--samples", type=int, default=10, help="N reactions per window (default 10)"
    )
    parser.add_argument("--window", type=int, default=8, help="w, frames per window (default 8)")
    parser.add_argument(
        "--context",
        type=int,
        default=250,
        help="frames every attention looks back (default 250 = 10 s)",
    )
    parser.add_argument(
        "--early", type=int, default=64, help="first time point, frames (default 64 = 2.6 s)"
    )
    parser.add_argument(
        "--late", type=int, default=750, help="second time point, frames (default 750 = 30 s)"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument(
        "--repeats", type=int, default=30, help="timed windows per t for the median (default 30)"
    )
    parser.add_argument(
        "--naive-repeats", type=int, default=3, help="timed naive recomputes (default 3)"
    )


def run(args: argparse.Namespace) -> int:
    import torch

    from reactface_core.model import ReactFace
    from reactface_core.streaming import ReactionGenerator
    from reactface_core.train import TrainConfig
    from reactface_core.utils import resolve_device, seed_everything

    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    device = resolve_device(args.device)
    # the shipped model's architecture: what training builds, and the idle motion that
    # `reactface calibrate` switches on after it
    config = replace(
        TrainConfig().model_config(), idle=True, window=args.window, context=args.context
    )
    model = ReactFace(config).to(device).eval()
    w, k = config.window, config.audio_ratio
    late = -(-args.late // w) * w  # the windows holding those frames (752 for 750, w = 8)
    early = -(-args.early // w) * w
    if not w <= early < late:
        usage_error(
            "reactface bench streaming",
            f"need w <= --early < --late, got {args.early}, {args.late}",
        )
    g = torch.Generator().manual_seed(args.seed)
    visual = torch.randn(late, config.visual_dim, generator=g).to(device)
    audio = torch.randn(k * late, config.audio_dim, generator=g).to(device)

    # states at t - w for both t; then time the two windows and the naive step in turn,
    # so whatever else the machine is doing hits all three alike
    generator = ReactionGenerator(model, samples=args.samples, seed=args.seed)
    states = {}
    for t in (early, late):
        for frame in range(generator.frames_generated, t - w, w):
            generator.push(visual[frame : frame + w], audio[k * frame : k * (frame + w)])
        states[t] = copy.deepcopy(generator, {id(model): model})  # shares the weights
    ours = {early: [], late: []}
    naive = []
    for round_ in range(args.repeats + 1):  # round 0 warms up
        for t in (early, late):
            ours[t].append(_time_window(states[t], model, visual, audio, t, w, k))
        if round_ % max(1, args.repeats // args.naive_repeats) == 0:
            naive.append(_time_naive(model, visual, audio, args.samples, g))
    ours = {t: statistics.median(times[1:]) for t, times in ours.items()}
    naive = statistics.median(naive[1:])

    params = sum(p.numel() for p in model.parameters())
    reference = reference_ms()
    print(
        f"ReactFace as shipped (style latent {config.style_dim}-d, events: {config.events}, "
        f"follow: {config.follow}, idle motion: {config.idle}) "
        f"d={config.dim} heads={config.heads} params={params / 1e6:.2f}M (with the "
        f"recognition networks, which do not run online), "
        f"w={w} N={args.samples} context={config.context} frames, device={device}, "
        f"threads={torch.get_num_threads()}, {machine_load(reference)} "
        f"(other work on the machine inflates and scatters every time below)"
    )
    print(f"{'step':<44}{'median ms':>14}")
    print(f"{f'streaming, window ending at t={early}':<44}{1000 * ours[early]:>14.2f}")
    print(f"{f'streaming, window ending at t={late}':<44}{1000 * ours[late]:>14.2f}")
    print(f"{f'naive recompute of the history, t={late}':<44}{1000 * naive:>14.2f}")
    print(f"ratio t={late} / t={early} (streaming): {ours[late] / ours[early]:.2f}")
    print(f"naive / streaming at t={late}: {naive / ours[late]:.1f}x")
    print(
        f"streaming at t={late} / reference work (one thread): "
        f"{1000 * ours[late] / reference:.2f} (divides out how fast the machine runs today)"
    )
    return 0


def _time_window(state, model, visual, audio, t, w, k) -> float:
    """Seconds for the window ending at frame t, pushed into a copy of the state at t - w."""
    trial = copy.deepcopy(state, {id(model): model})
    begin = time.perf_counter()
    windows = trial.push(visual[t - w : t], audio[k * (t - w) : k * t])
    elapsed = time.perf_counter() - begin
    assert len(windows) == 1 and windows[0].start == t - w
    return elapsed


def _time_naive(model, visual, audio, samples, generator) -> float:
    """Seconds to recompute the whole history (offline forward over all t frames)."""
    import torch

    begin = time.perf_counter()
    with torch.no_grad():
        model(visual[None], audio[None], samples=samples, generator=generator)
    return time.perf_counter() - begin
