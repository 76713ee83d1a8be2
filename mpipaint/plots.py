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
          "mgas": r"$M_{\rm gas}$ [M$_\odot$]", "y": r"Compton $y$", "y_int": r"$Y$ [kpc$^2$]"}
SOURCE_STYLE = {"true": ("k", "-", "FP truth"), "true_all": ("0.55", "-", "FP truth, all halos"),
                "fp": ("C0", "--", "predicted, FP DM maps"), "dmo": ("C1", "-.", "predicted, DMO DM maps"),
                "fp2": ("C2", ":", "predicted, FP-2 DM maps"), "fp3": ("C3", ":", "predicted, FP-3 DM maps")}


def _style(name):
    return SOURCE_STYLE.get(name, ("C4", ":", f"predicted, {name} DM maps"))


def evaluation_figures(summary: dict, out: Path, options) -> list[Path]:
    figures = [_pdfs(summary, out / "pixel_pdfs.png"), _profiles(summary, out / "profiles.png", options)]
    if summary["distribution_functions"]:
        figures.append(_distribution_functions(summary, out / "distribution_functions.png"))
    for quantity in summary.get("scaling_relation_points", {}):
        figures.append(_scaling(summary, quantity, out / f"{quantity}_mdm.png"))
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


def _scaling(summary, quantity, path):
    """Fig 9: a quantity (Lx, Y) against projected DM mass with the fitted relations."""
    fig, axes = _panels(1)
    ax = axes[0]
    for name, points in summary["scaling_relation_points"][quantity].items():
        colour, _, label = _style(name)
        ax.scatter(points["mdm_proj"], points[quantity], s=8, color=colour, label=label, alpha=0.7)
        fit = summary["scaling_relation"][quantity].get(name, {})
        if "slope" in fit:
            masses = sorted(points["mdm_proj"])
            masses = [masses[0], masses[-1]]
            ax.plot(masses, [10 ** (fit["norm"] + fit["slope"] * math.log10(m / fit["pivot"]))
                             for m in masses], color=colour)
    ax.set(xscale="log", yscale="log", xlabel=r"$M_{\rm DM}$ in the map [M$_\odot$]", ylabel=LABELS[quantity])
    ax.legend(fontsize=7)
    return _save(fig, path)


def lightcone_figures(columns: dict, solid_angle_sr: float, out: Path) -> list[Path]:
    """dN/dz (lightcone.png), logN-logS (logn_logs.png) and the sky in Mollweide (sky.png) of a light-cone's
    `columns` (z_cos, flux_x, ra, dec) over `solid_angle_sr`."""
    import numpy as np  # noqa: PLC0415

    area_deg2 = solid_angle_sr * (180 / math.pi) ** 2
    z, flux = columns["z_cos"], columns["flux_x"]
    fig, (ax,) = _panels(1)
    edges = np.linspace(0, max(float(z.max()), 1e-3), 21)
    ax.hist(z, bins=edges, histtype="step", color="k")
    ax.set(xlabel=r"$z_{\rm cos}$", ylabel="halos per bin", title=f"{len(z)} light-cone halos")
    figures = [_save(fig, out / "lightcone.png")]
    fig, (ax,) = _panels(1)
    ordered = np.sort(flux)[::-1]
    ax.loglog(ordered, np.arange(1, len(ordered) + 1) / area_deg2, color="k", drawstyle="steps-post")
    ax.set(xlabel=r"$S$ (observed 0.5-2 keV) [erg s$^{-1}$ cm$^{-2}$]", ylabel=r"$N(>S)$ [deg$^{-2}$]")
    figures.append(_save(fig, out / "logn_logs.png"))
    fig = plt.figure(figsize=(7.5, 4.2))
    ax = fig.add_subplot(projection="mollweide")
    longitude = np.radians(np.where(columns["ra"] > 180, columns["ra"] - 360, columns["ra"]))
    points = ax.scatter(-longitude, np.radians(columns["dec"]), c=np.log10(flux), s=4, cmap="viridis")
    fig.colorbar(points, ax=ax, label=r"log$_{10}$ $S$ [erg s$^{-1}$ cm$^{-2}$]", shrink=0.7)
    ticks = np.radians(np.arange(-150, 151, 30))
    ax.set_xticks(ticks, [f"{(-math.degrees(t)) % 360:.0f}" for t in ticks])  # RA grows to the left, as on the sky
    ax.set(xlabel="RA [deg]", ylabel="Dec [deg]")
    ax.grid(True)
    figures.append(_save(fig, out / "sky.png"))
    return figures
