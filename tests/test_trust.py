"""How far painted numbers can be trusted: bounded and flagged predictions on inputs outside the trained
range, and deep-ensemble uncertainties (mean and spread of members) through train, paint and evaluate."""
import json
import shutil

import h5py
import numpy as np
import pytest

from conftest import TINY_TRAINING, run_mpipaint
from mpipaint.model.bundle import MAX_TOTAL_OFFSET_DEX, load_bundle, member_paths
from mpipaint.science import summaries
from mpipaint.science.summaries import totals

pytestmark = pytest.mark.tf  # TensorFlow (tf-keras) builds, trains or runs the nets here


@pytest.fixture(scope="module")
def ensemble(small_trainset, tmp_path_factory):
    """Two X-ray members trained in one command by two Horovod ranks."""
    out = tmp_path_factory.mktemp("ensemble") / "xray"
    run_mpipaint("train", "--data", small_trainset, "--out", out, "--epochs", "3", "--members", "2",
                 *TINY_TRAINING, ranks=2)
    return out


def test_a_dm_map_scaled_by_1e3_paints_bounded_values_and_is_flagged(xray_bundle, small_trainset):
    from mpipaint.model.infer import EnsemblePredictor

    bundle = load_bundle(xray_bundle[0])
    with h5py.File(small_trainset) as f:
        dm = f["dm"][:6].astype(np.float64)
        area = (f.attrs["width_kpc"] / f.attrs["npix"]) ** 2
    predictor = EnsemblePredictor([bundle], batch_size=3)
    normal, scaled = predictor(dm), predictor(dm * 1e3)
    # erg/s/kpc^2: twice the brightest training pixel, times the bundle's total calibration (at most 2)
    ceiling = 2 * 10 ** bundle.target_norm.high * bundle.total_scale()
    assert bundle.total_scale() <= 10 ** MAX_TOTAL_OFFSET_DEX
    assert np.isfinite(scaled.images).all() and scaled.images.max() <= ceiling * (1 + 1e-9)
    values = summaries.halo_values({"xray": scaled}, totals("dm", dm * 1e3, dm * 1e3, area))
    assert np.all(values["lx"] <= ceiling * dm[0].size * area) and np.all(values["out_of_range"] == 1)
    assert np.all(values["dm_outside_range"] > 0.01)
    assert np.all(summaries.halo_values({"xray": normal}, totals("dm", dm, dm, area))["dm_outside_range"] < 1e-3)
    empty = np.zeros_like(dm[:3])  # a halo without DM particles in its maps: flagged, not a silent zero
    assert np.all(summaries.halo_values({"xray": predictor(empty)}, np.zeros(3))["out_of_range"] == 1)


def test_ensemble_members_share_the_split_and_differ_in_weights(ensemble):
    members = member_paths(ensemble)
    assert [m.name for m in members] == ["member_0", "member_1"]
    metas = [json.loads((m / "bundle.json").read_text()) for m in members]
    assert metas[0]["split_halos"] == metas[1]["split_halos"]
    assert metas[0]["target_normalisation"] == metas[1]["target_normalisation"]
    assert metas[0]["weights_sha256"] != metas[1]["weights_sha256"]
    assert metas[1]["init_seed"] == metas[0]["init_seed"] + 1


def test_painted_ensemble_is_the_mean_and_spread_of_its_members(ensemble, universe, tmp_path):
    box = universe / "DMO" / "output" / "snapdir_099"
    run_mpipaint("paint", box, "--model", ensemble, "--out", tmp_path / "ensemble.hdf5", ranks=2)
    singles = []
    for k, member in enumerate(member_paths(ensemble)):
        run_mpipaint("paint", box, "--model", member, "--out", tmp_path / f"m{k}.hdf5")
        with h5py.File(tmp_path / f"m{k}.hdf5") as f:
            singles.append(f["lx"][()])
    with h5py.File(tmp_path / "ensemble.hdf5") as f:
        lx, spread, sigma = f["lx"][()], f["lx_std"][()], f["lx_sigma_dex"][()]
        assert f["lx_std"].attrs["units"] == "erg/s" and f["out_of_range"].attrs["units"] == ""
        assert f["dm_outside_range"].shape == lx.shape and f["lx_at_bound"].shape == lx.shape
    np.testing.assert_allclose(lx, np.mean(singles, axis=0), rtol=1e-12)
    np.testing.assert_allclose(spread, np.std(singles, axis=0, ddof=1), rtol=1e-9)
    assert (spread > 0).all()
    residual = np.mean([json.loads((m / "bundle.json").read_text())["validation_residual_dex"]
                        for m in member_paths(ensemble)])
    np.testing.assert_allclose(sigma, np.hypot(np.std(np.log10(singles), axis=0, ddof=1), residual), rtol=1e-9)


def test_evaluate_reports_the_ensemble_coverage_and_range_diagnostics(ensemble, small_trainset, tmp_path):
    run_mpipaint("evaluate", "--model", ensemble, "--data", small_trainset, "--split", "all", "--bootstrap", "50",
                 "--out", tmp_path / "report")
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    xray = summary["targets"]["xray"]
    uncertainty = xray["uncertainty"]
    assert xray["members"] == 2 and uncertainty["ensemble"]["count"] == summary["halos"]
    assert uncertainty["residual_scatter_dex"] > 0 and 0.0 <= uncertainty["ensemble"]["fraction_within_1sigma"] <= 1.0
    # adding the residual scatter can only widen the interval
    assert uncertainty["with_residual"]["fraction_within_1sigma"] >= uncertainty["ensemble"]["fraction_within_1sigma"]
    low, high = xray["mpe_median_interval"]
    assert low <= xray["mpe_median_percent"] <= high
    assert summary["range_diagnostics"]["fp"]["images"] == summary["images"]


def test_a_larger_ensemble_reuses_the_members_already_trained(ensemble, small_trainset, tmp_path):
    grown = tmp_path / "xray"
    shutil.copytree(ensemble, grown)
    before = [json.loads((m / "bundle.json").read_text())["weights_sha256"] for m in member_paths(grown)]
    run_mpipaint("train", "--data", small_trainset, "--out", grown, "--epochs", "3", "--members", "3",
                 *TINY_TRAINING, ranks=2)
    after = [json.loads((m / "bundle.json").read_text())["weights_sha256"] for m in member_paths(grown)]
    assert after[:2] == before and len(after) == 3 and after[2] not in before
