"""PNG figures of an evaluation, in the style of the paper's Figs 5-9, drawn from the summary dictionary
(so a figure shows exactly the numbers in summary.json)."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the file backend

LABELS = {"xray": r"$S_X$ [erg s$^{-1}$ kpc$^{-2}$]", "gas": r"$\Sigma_{\rm gas}$ [M$_\odot$ kpc$^{-2}$]",
          "temperature": r"$T_{\rm sl}$ [keV]", "lx": r"$L_X$ (0.5-2 keV) [erg s$^{-1}$]",
          "mgas": r"$M_{\rm gas}$ [M$_\odot$]"}
SOURCE_STYLE = {"true": ("k", "-", "FP truth"), "true_all": ("0.55", "-", "FP truth, all halos"),
                "fp": ("C0", "--", "predicted, FP DM maps"), "dmo": ("C1", "-.", "predicted, DMO DM maps"),
                "fp2": ("C2", ":", "predicted, FP-2 DM maps"), "fp3": ("C3", ":", "predicted, FP-3 DM maps")}


def _style(name):
    return SOURCE_STYLE.get(name, ("C4", ":", f"predicted, {name} DM maps"))


def evaluation_figures(summary: dict, out: Path, options) -> list[Path]:
    figures = [_pdfs(summary, out / "pixel_pdfs.png"), _profiles(summary, out / "profiles.png", options)]
    if summary["distribution_functions"]:
        figures.append(_distribution_functions(summary, out / "distribution_functions.png"))
    if summary.get("scaling_relation_points"):
        figures.append(_scaling(summary, out / "lx_mdm.png"))
    return figures


def _panels(n):
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.6), squeeze=False)
    return fig, axes[0]


def _save(fig, path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _pdfs(summary, path):
    """Fig 5: pixel PDFs in the normalised (0..1) space, empty pixels left out."""
    fig, axes = _panels(len(summary["targets"]))
    for ax, (target, values) in zip(axes, summary["targets"].items()):
        n = len(values["pdf_true"])
        centres = [(k + 0.5) / n for k in range(n)]
        for key, colour, label in (("pdf_true", "k", "truth"), ("pdf_predicted", "C0", "predicted")):
            total = max(sum(values[key]), 1)
            ax.step(centres, [c / total * n for c in values[key]], where="mid", color=colour, label=label)
        ax.set(xlabel=f"normalised {target}", ylabel="PDF", yscale="log", title=target)
        ax.legend(fontsize=8)
    return _save(fig, path)


def _profiles(summary, path, options):
    """Fig 6: azimuthally averaged profiles, median and interquartile range of truth and prediction."""
    fig, axes = _panels(len(summary["targets"]))
    for ax, (target, values) in zip(axes, summary["targets"].items()):
        for key, colour, label in (("profile_true", "k", "truth"), ("profile_predicted", "C0", "predicted")):
            q = values[key]
            r = [(k + 0.5) / len(q["median"]) for k in range(len(q["median"]))]
            ax.plot(r, q["median"], color=colour, label=label)
            ax.fill_between(r, q["p25"], q["p75"], color=colour, alpha=0.2)
        ax.set(xlabel="r / (map half-width)", ylabel=LABELS[target], yscale="log", title=target)
        ax.legend(fontsize=8)
    return _save(fig, path)


def _distribution_functions(summary, path):
    """Figs 7, 8, 10: phi with Poisson bands for the truth and every prediction."""
    functions = summary["distribution_functions"]
    fig, axes = _panels(len(functions))
    for ax, (quantity, by_source) in zip(axes, functions.items()):
        for name, df in by_source.items():
            edges = df["edges"]
            centres = [(a * b) ** 0.5 for a, b in zip(edges[:-1], edges[1:])]
            shown = [k for k, c in enumerate(df["counts"]) if c > 0]
            colour, line, label = _style(name)
            x = [centres[k] for k in shown]
            ax.plot(x, [df["phi"][k] for k in shown], color=colour, ls=line, label=label)
            ax.fill_between(x, [df["phi"][k] - df["error"][k] for k in shown],
                            [df["phi"][k] + df["error"][k] for k in shown], color=colour, alpha=0.15)
        ax.set(xscale="log", yscale="log", xlabel=LABELS[quantity], ylabel=r"$\phi$ [cMpc$^{-3}$ dex$^{-1}$]")
        ax.legend(fontsize=7)
    return _save(fig, path)


def _scaling(summary, path):
    """Fig 9: Lx against projected DM mass with the fitted relations."""
    fig, axes = _panels(1)
    ax = axes[0]
    for name, points in summary["scaling_relation_points"].items():
        colour, _, label = _style(name)
        ax.scatter(points["mdm_proj"], points["lx"], s=8, color=colour, label=label, alpha=0.7)
        fit = summary["scaling_relation"].get(name, {})
        if "slope" in fit:
            masses = sorted(points["mdm_proj"])
            masses = [masses[0], masses[-1]]
            ax.plot(masses, [10 ** (fit["norm"] + fit["slope"] * math.log10(m / fit["pivot"]))
                             for m in masses], color=colour)
    ax.set(xscale="log", yscale="log", xlabel=r"$M_{\rm DM}$ in the map [M$_\odot$]", ylabel=LABELS["lx"])
    ax.legend(fontsize=7)
    return _save(fig, path)
