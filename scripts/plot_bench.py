#!/usr/bin/env python3
"""Plots of `gossip-bench standard` results.

    python3 scripts/plot_bench.py target/bench/standard.json docs/bench/

Writes into the output folder:
  latency_cdf_n20.png        latency CDF at N = 20, one line per publish rate
  throughput_vs_n.png        items/s delivered to every receiver against N, R = 0
  cpu_per_delivery_vs_n.png  node CPU µs per delivery against N, one line per rate

`make plots` runs it with matplotlib from a venv in target/plot-venv.
"""

import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)


def rate_label(rate):
    """A publish rate as a legend label."""
    return "R = max (as fast as possible)" if rate == 0 else f"R = {rate} items/s"


def subtitle(doc):
    """What the runs were measured on, for the plot titles."""
    machine = doc.get("machine", {})
    cpus = machine.get("cpus", "?")
    size = doc["floor"]["size"]
    return f"S = {size} B payloads, degree 8, cache_size 1000; gossipd on 127.0.0.1, {cpus}-core machine"


def by_rate(runs):
    """Runs grouped by publish rate, each group sorted by node count."""
    groups = {}
    for run in runs:
        groups.setdefault(run["params"]["rate"], []).append(run)
    for group in groups.values():
        group.sort(key=lambda r: r["params"]["nodes"])
    # Fixed rates ascending, then "as fast as possible".
    return sorted(groups.items(), key=lambda kv: (kv[0] == 0, kv[0]))


def save(fig, out_dir, name):
    path = os.path.join(out_dir, name)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}")


def latency_cdf(doc, out_dir, nodes=20):
    """Latency CDF (announce to notification, all item-receiver pairs)."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for rate, group in by_rate(doc["runs"]):
        for run in (r for r in group if r["params"]["nodes"] == nodes):
            cdf = run["latency"]["cdf_ms"]
            if not cdf or cdf[0] is None:
                continue
            fractions = [i / (len(cdf) - 1) for i in range(len(cdf))]
            ratio = run["delivery"]["ratio"]
            label = f"{rate_label(rate)} (delivery ratio {ratio:.3f})"
            ax.step(cdf, fractions, where="post", label=label)
    floor_ms = doc["floor"]["one_way_latency"]["p50_ms"]
    if floor_ms:
        ax.axvline(floor_ms, color="grey", linestyle=":", label=f"floor: one TCP hop, p50 {floor_ms * 1000:.0f} µs")
    ax.set_xscale("log")
    ax.set_xlabel("latency from ANNOUNCE at node 0 to NOTIFICATION at a receiver (ms, log scale)")
    ax.set_ylabel("fraction of (item, receiver) pairs")
    ax.set_ylim(0, 1.01)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(f"gossipd delivery latency CDF, N = {nodes} nodes\n{subtitle(doc)}", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    save(fig, out_dir, f"latency_cdf_n{nodes}.png")


def throughput_vs_n(doc, out_dir):
    """Delivered items/s against N at R = 0."""
    runs = sorted((r for r in doc["runs"] if r["params"]["rate"] == 0), key=lambda r: r["params"]["nodes"])
    fig, ax = plt.subplots(figsize=(7, 5))
    xs = [r["params"]["nodes"] for r in runs]
    covered = [r["throughput"]["items_per_s"] or 0 for r in runs]
    per_receiver = [(r["throughput"]["deliveries_per_s"] or 0) / (r["params"]["nodes"] - 1) for r in runs]
    ax.plot(xs, covered, marker="o", label="items that reached all N - 1 receivers, per s")
    ax.plot(xs, per_receiver, marker="s", linestyle="--", label="deliveries/s ÷ (N - 1), lost items included")
    for x, y, r in zip(xs, covered, runs):
        note = f"delivery ratio {r['delivery']['ratio']:.3f}"
        ax.annotate(note, (x, y), textcoords="offset points", xytext=(0, -15), ha="center", fontsize=8)
    ax.set_xlabel("nodes N (one gossipd process each)")
    ax.set_ylabel("items/s (first ANNOUNCE to last NOTIFICATION)")
    ax.set_ylim(bottom=0)
    ax.set_xticks(xs)
    ax.margins(x=0.15)
    ax.grid(True, alpha=0.3)
    ax.set_title(f"gossipd throughput, publisher as fast as possible (R = 0)\n{subtitle(doc)}", fontsize=10)
    ax.legend(fontsize=8)
    save(fig, out_dir, "throughput_vs_n.png")


def cpu_vs_n(doc, out_dir):
    """Node CPU µs per delivery against N, one line per rate."""
    fig, ax = plt.subplots(figsize=(7, 5))
    xs_all = set()
    for rate, group in by_rate(doc["runs"]):
        xs = [r["params"]["nodes"] for r in group]
        ys = [r["cpu"]["cpu_us_per_delivery"] for r in group]
        xs_all.update(xs)
        ax.plot(xs, ys, marker="o", label=rate_label(rate))
    floor_us = doc["floor"]["stream_cpu_us_per_msg"]
    ax.axhline(floor_us, color="grey", linestyle=":", label=f"floor: one TCP hop, {floor_us:.1f} µs CPU per message")
    ax.set_xlabel("nodes N (one gossipd process each)")
    ax.set_ylabel("CPU µs of all nodes per delivery (user + system, log scale)")
    ax.set_yscale("log")
    ax.margins(x=0.1)
    ax.set_xticks(sorted(xs_all))
    ax.grid(True, alpha=0.3)
    ax.set_title(f"gossipd CPU cost per delivered item\n{subtitle(doc)}", fontsize=10)
    ax.legend(fontsize=8)
    save(fig, out_dir, "cpu_per_delivery_vs_n.png")


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    if not doc.get("runs"):
        print(f"{argv[1]} holds no runs", file=sys.stderr)
        return 1
    os.makedirs(argv[2], exist_ok=True)
    latency_cdf(doc, argv[2])
    throughput_vs_n(doc, argv[2])
    cpu_vs_n(doc, argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
