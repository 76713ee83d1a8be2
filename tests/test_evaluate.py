"""`mpipaint evaluate` and `calibrate` on the example universe: a perfect predictor scores zero error,
2 ranks give the same numbers as 1, and `paint --corrections` writes the tables' weights."""
import json
import shutil

import h5py
import numpy as np
import pytest

from conftest import run_mpipaint
from mpipaint.errors import InputError
from mpipaint.io.corrections import FORMAT, calibrated_particle_mass, read_table
from mpipaint.maps.gas import MAP_UNITS
from mpipaint.model.bundle import save_bundle
from mpipaint.model.keras_env import keras
from mpipaint.model.norm import RunningStats
from mpipaint.model.unet import build_unet
from mpipaint.science import corrections

pytestmark = pytest.mark.tf  # TensorFlow (tf-keras) builds, trains or runs the nets here


@pytest.fixture(scope="module")
def dmo_maps(universe, tmp_path_factory):
    """32-pixel DM maps of the DMO run's halos above 1e14 Msun: an input to predict from."""
    out = tmp_path_factory.mktemp("dmo_maps")
    run_mpipaint("select", universe / "DMO" / "output", "--snap", "67", "99", "--out", out / "halos.hdf5")
    run_mpipaint("prepare", universe / "DMO" / "output", "--halos", out / "halos.hdf5", "--out",
                 out / "dmo.hdf5", "--npix", "32")
    return out / "dmo.hdf5"


def identity_unet(npix: int):
    """A real U-net (depth 1) whose weights make it return its input exactly: every conv passes one channel
    through its centre tap (the last input channel: the encoder's skip after a concatenation), batch norm is
    the identity, the transposed conv paints zeros, and ReLUs pass the non-negative normalised maps."""
    architecture = {"image_size": npix, "base_filters": 2, "depth": 1, "head": "minmax", "mask": False}
    model = build_unet(**architecture)
    for layer in model.layers:
        weights = [np.zeros_like(w) for w in layer.get_weights()]
        if isinstance(layer, keras().layers.Conv2D) and not isinstance(layer, keras().layers.Conv2DTranspose):
            size = weights[0].shape[0] // 2
            weights[0][size, size, -1, :] = 1.0
        elif isinstance(layer, keras().layers.BatchNormalization):
            gamma, beta, mean, variance = weights
            gamma[:] = 1.0
            variance[:] = np.float32(1.0) - np.float32(layer.epsilon)  # variance + epsilon = 1: exact
        if weights:
            layer.set_weights(weights)
    return model, architecture


def identity_bundle(trainset, target, out):
    """A bundle whose network returns its input and whose target normalisation is the input's: exact."""
    stats = RunningStats("log")
    with h5py.File(trainset) as f:
        for image in f["dm"][()]:
            stats.add(image)
        npix, width = int(f.attrs["npix"]), float(f.attrs["width_kpc"])
        halos = np.unique(np.stack([f["snapshot"][()], f["halo_id"][()]], axis=1), axis=0).tolist()
    norm = stats.fit("minmax").to_dict()
    model, architecture = identity_unet(npix)
    meta = {"target": target, "target_units": MAP_UNITS[target], "npix": npix, "width_kpc": width,
            "deposition_mode": "group", "mask": False, "input_normalisation": norm, "target_normalisation": norm,
            "split_halos": {"train": halos, "validation": [], "test": halos}}
    return save_bundle(out, model.get_weights(), architecture, meta)


def test_a_perfect_predictor_has_zero_error(small_trainset, tmp_path):
    """Truth = the DM map itself, model = identity, for gas and y: MPE is float32 rounding, PDFs and profiles
    coincide, and the Y-M_DM relation of truth and prediction is Y = M_DM: slope 1, no scatter."""
    trainset = tmp_path / "perfect.hdf5"
    shutil.copy(small_trainset, trainset)
    with h5py.File(trainset, "a") as f:
        f["gas"][...] = f["dm"][()]
        f["y"][...] = f["dm"][()]
    bundles = [identity_bundle(trainset, target, tmp_path / target) for target in ("gas", "y")]
    run_mpipaint("evaluate", "--model", bundles[0], "--model", bundles[1], "--data", trainset, "--split", "all",
                 "--out", tmp_path / "report", "--bootstrap", "10")
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    for target in ("gas", "y"):
        values = summary["targets"][target]
        assert abs(values["mpe_median_percent"]) < 1e-4 and abs(values["mpe_mean_percent"]) < 1e-4
        assert values["pdf_true"] == values["pdf_predicted"]
        np.testing.assert_allclose(values["profile_predicted"]["median"], values["profile_true"]["median"], rtol=1e-5)
    assert summary["targets"]["y"]["quantity"] == "y_int" and summary["targets"]["y"]["units"] == "kpc^2"
    for quantity in ("mgas", "y_int"):
        phi = summary["distribution_functions"][quantity]
        assert phi["fp"]["counts"] == phi["true"]["counts"]
    relation = summary["scaling_relation"]["y_int"]
    assert set(summary["scaling_relation"]) == {"y_int"}  # no X-ray bundle: no Lx-M_DM relation
    for source in ("true", "fp"):  # Y [kpc^2] = the projected DM mass [Msun] here, by construction
        assert relation[source]["slope"] == pytest.approx(1.0, abs=1e-6)
        assert relation[source]["norm"] == pytest.approx(np.log10(1e14), abs=1e-6)
        assert relation[source]["scatter"] < 1e-6 and relation[source]["count"] == summary["images"]
    points = summary["scaling_relation_points"]["y_int"]["true"]
    np.testing.assert_allclose(points["y_int"], points["mdm_proj"], rtol=1e-6)
    assert {p.name for p in (tmp_path / "report").glob("*.png")} == {
        "pixel_pdfs.png", "profiles.png", "distribution_functions.png", "y_int_mdm.png"}


def test_a_perfect_y_predictor_calibrates_to_unit_weights_and_paints_y_int_with_its_units(small_trainset, universe,
                                                                                         tmp_path):
    """y = the DM map and an identity y bundle: calibrate's y_int tables are 1 wherever defined; paint writes
    y_int [kpc^2] with its bound fraction and correction weight, and y_int is the map's DM mass (the identity
    paints the DM map) wherever no pixel is at the bound."""
    trainset = tmp_path / "perfect.hdf5"
    shutil.copy(small_trainset, trainset)
    with h5py.File(trainset, "a") as f:
        f["y"][...] = f["dm"][()]
    bundle = identity_bundle(trainset, "y", tmp_path / "y")
    tables = tmp_path / "corrections.hdf5"
    run_mpipaint("calibrate", "--model", bundle, "--data", trainset, "--split", "all", "--out", tables,
                 "--precision", "fp32")  # an identity is exact only at full precision
    table = read_table(tables, "fp", "y_int")
    defined = np.isfinite(table["ratio"])
    assert defined.sum() >= 3 and np.all(table["ratio"][defined] == 1.0)
    out = tmp_path / "painted.hdf5"
    run_mpipaint("paint", universe / "FP" / "output" / "snapdir_099", "--model", bundle, "--out", out,
                 "--corrections", tables, "--correction-input", "fp", "--precision", "fp32", ranks=2)
    with h5py.File(out) as f:
        assert f["y_int"].attrs["units"] == "kpc^2" and f["y_int_weight"].shape == f["y_int"].shape
        y, mass, bound = f["y_int"][()], f["mdm_proj"][()], f["y_int_at_bound"][()]
    assert (bound == 0).mean() > 0.5
    np.testing.assert_allclose(y[bound == 0], mass[bound == 0], rtol=1e-4)
    assert calibrated_particle_mass(tables, "fp") == dm_particle_mass(trainset)
    with h5py.File(out) as f:
        assert not f.attrs["sparser_than_calibration"] and not f["y_int_outside_calibration"][()].all()
    sparse = tmp_path / "painted_quarter.hdf5"  # a quarter of the DM, 4x the mass the tables were calibrated on
    run_mpipaint("paint", universe / "FP" / "output" / "snapdir_099", "--model", bundle, "--out", sparse,
                 "--corrections", tables, "--correction-input", "fp", "--precision", "fp32", "--subsample", "0.25")
    with h5py.File(sparse) as f:
        assert f.attrs["subsample_fraction"] == 0.25 and f.attrs["sparser_than_calibration"]
        assert f["y_int_outside_calibration"][()].all()
        quarter = f["mdm_proj"][()]
    counts = mass / dm_particle_mass(trainset)  # DM particles in each map
    assert np.all(np.abs(quarter / mass - 1) < 5 * np.sqrt(0.75 / (0.25 * counts)))  # binomial: 5 sigma


def dm_particle_mass(trainset) -> float:
    with h5py.File(trainset) as f:
        return float(f.attrs["dm_particle_mass_msun"])


def test_a_split_is_evaluated_only_on_the_bundles_own_training_set(xray_bundle, small_trainset, tmp_path):
    other = tmp_path / "other.hdf5"
    shutil.copy(small_trainset, other)
    with h5py.File(other, "a") as f:
        f.attrs["halo_table"] = "another selection"  # made otherwise: its 'test' halos mean nothing here
    result = run_mpipaint("evaluate", "--model", xray_bundle[0], "--data", other, "--split", "test", "--out",
                          tmp_path / "report", check=False)
    assert result.returncode == 2 and "not the training set the xray bundle was trained on" in result.stderr


@pytest.fixture(scope="module")
def reports(xray_bundle, small_trainset, dmo_maps, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    args = ("--model", xray_bundle[0], "--data", small_trainset, "--input", f"dmo={dmo_maps}")
    for ranks in (1, 2):
        run_mpipaint("evaluate", *args, "--split", "all", "--out", out / f"report{ranks}", "--bootstrap", "50",
                     ranks=ranks)
        run_mpipaint("calibrate", *args, "--split", "all", "--out", out / f"corrections{ranks}.hdf5", ranks=ranks)
    return out


def test_evaluate_gives_the_same_numbers_on_two_ranks(reports):
    one = json.loads((reports / "report1" / "summary.json").read_text())
    two = json.loads((reports / "report2" / "summary.json").read_text())
    assert one == two
    assert one["images"] == 69 and one["targets"]["xray"]["units"] == "erg/s"
    assert set(one["distribution_functions"]["lx"]) == {"true", "fp", "true_all", "dmo"}
    truth = one["distribution_functions"]["lx"]["true_all"]
    assert sum(truth["counts"]) == 23  # one value per FP halo, both snapshots
    relation = one["scaling_relation"]["lx"]["true"]
    assert relation["count"] == 69 and relation["slope"] > 0.5


def test_calibrate_gives_the_same_tables_on_two_ranks(reports):
    with h5py.File(reports / "corrections1.hdf5") as a, h5py.File(reports / "corrections2.hdf5") as b:
        assert a.attrs["format"] == FORMAT and sorted(a) == ["dmo", "fp"]
        for name in ("fp/lx/ratio", "fp/lx/bin_edges", "dmo/lx/phi_predicted", "dmo/lx/ratio_error"):
            np.testing.assert_array_equal(a[name][()], b[name][()], err_msg=name)
        assert a["dmo/lx/bin_edges"].attrs["units"] == "erg/s"
        assert a["dmo/lx/phi_true"].attrs["units"] == "cMpc^-3 dex^-1"
        ratio, edges = a["fp/lx/ratio"][()], a["fp/lx/bin_edges"][()]
        phi_true, phi_pred = a["fp/lx/phi_true"][()], a["fp/lx/phi_predicted"][()]
        usable = np.isfinite(ratio)
        np.testing.assert_allclose(ratio[usable], phi_true[usable] / phi_pred[usable])
        assert len(edges) == len(ratio) + 1


def test_paint_writes_correction_weights(reports, universe, xray_bundle, tmp_path):
    table_path = reports / "corrections1.hdf5"
    out = tmp_path / "corrected.hdf5"
    run_mpipaint("paint", universe / "DMO" / "output" / "snapdir_099", "--model", xray_bundle[0], "--out", out,
                 "--corrections", table_path, "--correction-input", "dmo", ranks=2)
    table = read_table(table_path, "dmo", "lx")
    with h5py.File(out) as f:
        lx, weight, outside = f["lx"][()], f["lx_weight"][()], f["lx_outside_calibration"][()].astype(bool)
        assert f.attrs["correction_input"] == "dmo" and f["lx_weight"].attrs["units"] == ""
    expected, expected_outside = corrections.correction_weights(lx, table)
    np.testing.assert_array_equal(outside, expected_outside)
    np.testing.assert_array_equal(weight[~outside], expected[~outside])
    assert np.isnan(weight[outside]).all()


def test_missing_correction_table_is_refused(reports, universe, xray_bundle, tmp_path):
    result = run_mpipaint("paint", universe / "DMO" / "output" / "snapdir_099", "--model", xray_bundle[0],
                          "--out", tmp_path / "x.hdf5", "--corrections", reports / "corrections1.hdf5",
                          "--correction-input", "fp3", check=False)
    assert result.returncode == 2 and "no correction table 'fp3/lx' (has dmo/lx, fp/lx)" in result.stderr
    assert not (tmp_path / "x.hdf5").exists()
    with pytest.raises(InputError, match="not an mpipaint corrections file"):
        read_table(universe / "DMO" / "output" / "groups_099" / "fof_subhalo_tab_099.0.hdf5", "dmo", "lx")
