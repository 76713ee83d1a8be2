"""The science statistics against known answers: distribution functions of samples drawn from an analytic
phi, a scaling-relation fit that recovers a known slope and scatter, and correction tables that undo a
deliberate bias in independent predictions."""
import numpy as np
import pytest

from mpipaint.errors import InputError
from mpipaint.io.corrections import read_table, write_tables
from mpipaint.science import corrections, stats

VOLUME = 300.0**3  # cMpc^3


def draw_power_law(rng, n, slope=-1.5, low=42.0, high=45.0):
    """log10 x with dN/dlog10x proportional to 10^(slope log10 x) on [low, high]: inverse-CDF samples."""
    a = slope * np.log(10)
    u = rng.uniform(size=n)
    return np.log(np.exp(a * low) + u * (np.exp(a * high) - np.exp(a * low))) / a


def analytic_phi(n, edges, slope=-1.5, low=42.0, high=45.0):
    """Expected phi per bin: n / V times the fraction of the distribution in the bin, per dex."""
    a = slope * np.log(10)
    cdf = lambda y: (np.exp(a * np.clip(y, low, high)) - np.exp(a * low)) / (np.exp(a * high) - np.exp(a * low))  # noqa: E731
    logs = np.log10(edges)
    return n * np.diff(cdf(logs)) / VOLUME / np.diff(logs)


def chi2(measured, expected, error):
    use = error > 0
    return float(np.sum(((measured[use] - expected[use]) / error[use]) ** 2)), int(use.sum())


def test_distribution_function_of_samples_from_an_analytic_phi():
    rng = np.random.default_rng(11)
    values = 10 ** draw_power_law(rng, 20000)
    edges = stats.log_bin_edges(values, per_dex=4)
    df = stats.distribution_function(values, VOLUME, edges)
    expected = analytic_phi(20000, edges)
    value, dof = chi2(df.phi, expected, df.error)
    assert dof >= 11 and value < 2.5 * dof  # p < 0.003
    assert np.all(np.abs(df.phi - expected) < 4 * df.error)
    np.testing.assert_allclose(np.sum(df.phi * np.diff(np.log10(edges))) * VOLUME, 20000)  # every item counted


def test_spreading_predictions_by_their_residual_scatter_restores_the_true_distribution():
    """Truth = prediction x 10^N(0, s), the residual independent of the prediction (what a regression to the
    mean leaves): phi of the predictions spread by s agrees with the truth's; the raw phi is too narrow."""
    rng = np.random.default_rng(5)
    predicted = 10 ** rng.normal(43.5, 0.3, 40000)
    true = predicted * 10 ** rng.normal(0, 0.25, predicted.size)
    edges = stats.log_bin_edges(true, per_dex=4)
    truth = stats.distribution_function(true, VOLUME, edges)
    spread = stats.distribution_function(predicted, VOLUME, edges, scatter_dex=np.full(predicted.size, 0.25))
    raw = stats.distribution_function(predicted, VOLUME, edges)
    populated = truth.counts > 30
    pull = (spread.phi - truth.phi) / np.hypot(spread.error, truth.error)
    raw_pull = (raw.phi - truth.phi) / np.hypot(raw.error, truth.error)
    assert populated.sum() >= 8 and np.all(np.abs(pull[populated]) < 3.5) and np.mean(pull[populated] ** 2) < 3
    assert np.max(np.abs(raw_pull[populated])) > 10
    np.testing.assert_allclose(spread.counts.sum(), predicted.size, rtol=1e-3)  # the bins hold (almost) all


def test_scaling_relation_fit_recovers_slope_normalisation_and_scatter():
    rng = np.random.default_rng(3)
    mass = 10 ** rng.uniform(13.8, 15.2, 3000)
    lx = 10 ** (43.2 + 1.6 * np.log10(mass / 1e14) + rng.normal(0, 0.25, mass.size))
    fit = stats.fit_scaling_relation(mass, lx, 1e14, bootstrap=300, seed=1)
    assert abs(fit.slope - 1.6) < 3 * fit.slope_error and fit.slope_error < 0.03
    assert abs(fit.norm - 43.2) < 3 * fit.norm_error
    assert abs(fit.scatter - 0.25) < 3 * fit.scatter_error and fit.scatter_error < 0.01


def test_a_population_spread_by_the_missing_scatter_has_the_true_scatter_where_the_residual_overshoots():
    """A net that sees part of a halo's deviation from the relation (signal) and adds errors of its own
    (noise): the truth scatters 0.08 dex about Y-M, the net's values 0.056 with half of that noise. The
    residual (truth about prediction) holds the noise as well as what the net misses, so spreading by it
    overshoots the true scatter (as Y did on the fidelity benchmark); spreading by the missing scatter,
    measured on other halos, gives it back."""
    rng = np.random.default_rng(8)

    def halos(n):
        mass = 10 ** rng.uniform(14.0, 15.2, n)
        seen, unseen = rng.normal(0, 0.04, n), rng.normal(0, np.sqrt(0.08**2 - 0.04**2), n)
        log_mean = 0.5 + 1.7 * np.log10(mass / 1e14)
        return mass, 10 ** (log_mean + seen + unseen), 10 ** (log_mean + seen + rng.normal(0, 0.04, n))

    missing = stats.missing_scatter_dex(*halos(2000), 1e14)  # the validation halos
    mass, true, predicted = halos(20000)  # the test halos
    truth = stats.fit_scaling_relation(mass, true, 1e14, bootstrap=0).scatter
    spread = rng.normal(0, 1, mass.size)
    population = stats.fit_scaling_relation(mass, predicted * 10 ** (missing * spread), 1e14, bootstrap=0).scatter
    by_residual = predicted * 10 ** (np.std(np.log10(true / predicted)) * spread)
    overshoot = stats.fit_scaling_relation(mass, by_residual, 1e14, bootstrap=0).scatter
    assert abs(missing - np.sqrt(0.08**2 - (0.04**2 + 0.04**2))) < 0.006
    assert abs(population / truth - 1) < 0.03 and overshoot / truth > 1.2
    assert stats.missing_scatter_dex(mass, predicted, true, 1e14) == 0.0  # a prediction broader than the truth
    with pytest.raises(ValueError, match="3 positive"):
        stats.missing_scatter_dex([1e14, 1e15], [1.0, 2.0], [1.0, 2.0], 1e14)


def test_perfect_predictions_give_zero_percentage_error():
    truth = 10 ** np.random.default_rng(0).uniform(42, 45, 50)
    assert np.all(stats.percentage_errors(truth, truth) == 0)
    np.testing.assert_allclose(stats.percentage_errors(1.1 * truth, truth), 10.0)


def test_correction_table_restores_the_truth_for_independent_biased_predictions():
    """Calibrate on one biased sample, apply the weights to another: the weighted phi agrees with the
    true phi within Poisson errors, where the raw one is many sigma off."""
    rng = np.random.default_rng(8)

    def truth_and_biased(n):
        logs = draw_power_law(rng, n)
        return 10**logs, 10 ** (0.95 * logs + 2.3 + rng.normal(0, 0.1, n))  # flattened, scattered: a CNN's bias

    true_a, predicted_a = truth_and_biased(40000)
    edges = stats.log_bin_edges(true_a, per_dex=4)
    table = corrections.ratio_table(stats.distribution_function(true_a, VOLUME, edges),
                                    stats.distribution_function(predicted_a, VOLUME, edges))
    true_b, predicted_b = truth_and_biased(40000)
    weights, outside = corrections.correction_weights(predicted_b, table)
    assert np.all(np.isnan(weights[outside])) and not np.isnan(weights[~outside]).any()
    truth_b = stats.distribution_function(true_b, VOLUME, edges)
    raw = stats.distribution_function(predicted_b, VOLUME, edges)
    corrected = stats.distribution_function(predicted_b, VOLUME, edges, weights)
    # bins the predicted sample covers fully: at its lower end the prediction is cut off by the sample's
    # limit (a mass cut in practice), the ratio changes within one bin and interpolation is approximate
    calibrated = np.isfinite(table["ratio"]) & (truth_b.counts > 30) & (edges[:-1] > 3 * predicted_a.min())
    pull = (corrected.phi - truth_b.phi) / np.hypot(corrected.error, truth_b.error)
    raw_pull = (raw.phi - truth_b.phi) / np.hypot(raw.error, truth_b.error)
    assert calibrated.sum() >= 4
    assert np.all(np.abs(pull[calibrated]) < 3.5) and np.mean(pull[calibrated] ** 2) < 4
    assert np.max(np.abs(raw_pull[calibrated])) > 10


def test_a_correction_table_with_nan_bin_edges_is_refused(tmp_path):
    """It used to give every halo a NaN weight and no flag."""
    true = stats.distribution_function(10 ** np.linspace(42.1, 44.9, 50), VOLUME, 10.0 ** np.arange(42, 45.5, 0.5))
    table = corrections.ratio_table(true, true)
    table["bin_edges"] = table["bin_edges"].copy()
    table["bin_edges"][2] = np.nan
    path = tmp_path / "tables.hdf5"
    write_tables(path, {"dmo": {"lx": table}}, {})
    with pytest.raises(InputError, match="'dmo/lx/bin_edges' must be finite, positive and increasing"):
        read_table(path, "dmo", "lx")


def test_values_outside_the_calibrated_range_are_flagged():
    table = {"bin_edges": np.array([1e42, 1e43, 1e44, 1e45]), "ratio": np.array([np.nan, 2.0, 4.0])}
    weights, outside = corrections.correction_weights(np.array([5e42, 1e43, 10**43.5, 10**43.75, 1e44, 2e45]), table)
    assert outside.tolist() == [True, False, False, False, False, True]
    np.testing.assert_allclose(weights[1:5], [2.0, 2.0, 2**1.25, 2**1.5])  # held below 10^43.5, log-linear above


def test_radial_profile_of_an_analytic_image():
    npix, pixel = 64, 10.0
    c = (np.arange(npix) + 0.5 - npix / 2) * pixel
    r = np.hypot(*np.meshgrid(c, c, indexing="ij"))
    profile = stats.radial_profile(1.0 / (1.0 + (r / 50.0) ** 2), pixel, np.linspace(0, 320, 17))
    centres = np.linspace(10, 310, 16)
    np.testing.assert_allclose(profile[1:], 1.0 / (1.0 + (centres[1:] / 50.0) ** 2), rtol=0.08)


@pytest.mark.parametrize("values", [[], [-1.0, 0.0]])
def test_bins_need_positive_values(values):
    with pytest.raises(ValueError, match="no positive values"):
        stats.log_bin_edges(values)


def test_bootstrap_interval_of_the_mean_covers_the_truth_68_percent_of_the_time():
    """Over 300 samples of 40 Gaussian items the 68 % interval of the mean contains the true mean in
    68 +- 3 (binomial 1 sigma: 2.7) % of samples; far below or above would mean a wrong interval."""
    rng = np.random.default_rng(5)
    hits = 0
    for trial in range(300):
        values = rng.normal(1.0, 2.0, 40)
        low, high = stats.bootstrap_interval(values, np.arange(40), np.mean, resamples=300, seed=trial)
        hits += low <= 1.0 <= high
    assert 0.60 <= hits / 300 <= 0.76


def test_bootstrap_resamples_halos_not_images():
    """Three identical projections per halo carry one halo's information: the interval over images grouped
    by halo equals the interval of the halos alone, and is wider than treating images as independent."""
    rng = np.random.default_rng(6)
    per_halo = rng.normal(0.0, 10.0, 30)
    images, halos = np.repeat(per_halo, 3), np.repeat(np.arange(30), 3)
    grouped = stats.bootstrap_interval(images, halos, np.mean, resamples=500, seed=1)
    alone = stats.bootstrap_interval(per_halo, np.arange(30), np.mean, resamples=500, seed=1)
    independent = stats.bootstrap_interval(images, np.arange(90), np.mean, resamples=500, seed=1)
    np.testing.assert_allclose(grouped, alone, rtol=1e-12)
    assert (grouped[1] - grouped[0]) > 1.4 * (independent[1] - independent[0])  # sqrt(3) expected


def test_mpe_summary_counts_halos_and_brackets_the_median():
    rng = np.random.default_rng(7)
    true = 10 ** rng.uniform(42, 45, 90)
    predicted = true * (1 + rng.normal(-0.05, 0.1, 90))
    summary = stats.mpe_summary(predicted, true, np.repeat(np.arange(30), 3), resamples=400)
    assert summary["images"] == 90 and summary["halos"] == 30
    low, high = summary["mpe_median_interval"]
    assert low <= summary["mpe_median_percent"] <= high
    assert abs(summary["mpe_median_percent"] + 5.0) < 1.5 * (high - low)  # the true median error is -5 %


def test_ensemble_coverage_of_gaussian_errors_is_68_percent():
    """Truth = mean + N(0, sigma): about 68 % of items lie within +-sigma (binomial error reported)."""
    rng = np.random.default_rng(8)
    sigma = rng.uniform(0.1, 0.3, 2000)
    result = stats.coverage(rng.normal(0, 1, 2000) * sigma, sigma)
    assert result["count"] == 2000 and abs(result["fraction_within_1sigma"] - 0.6827) < 3 * result["error"]
    assert stats.coverage(rng.normal(0, 1, 2000) * sigma, 0.5 * sigma)["fraction_within_1sigma"] < 0.45


def test_residual_scatter_of_lognormal_errors():
    """Predictions off by N(0, 0.2) dex: the rms residual is 0.2 dex (to 3 standard errors)."""
    rng = np.random.default_rng(9)
    true = 10 ** rng.uniform(42, 45, 4000)
    predicted = true * 10 ** rng.normal(0, 0.2, 4000)
    assert abs(stats.residual_scatter_dex(true, predicted) - 0.2) < 3 * 0.2 / np.sqrt(2 * 4000)
    assert np.isnan(stats.residual_scatter_dex([0.0], [1.0]))


def test_two_samples_of_one_phi_agree_within_poisson_and_a_biased_one_does_not():
    """Independent draws from one analytic phi: about 68 % of bins within 1 sigma and chi^2 per bin about 1
    (p-values spread over 0..1); draws 30 % too many per bin are caught by chi^2."""
    rng = np.random.default_rng(3)
    edges = 10.0 ** np.arange(42.0, 43.51, 0.25)  # 200-3700 items per bin: Gaussian enough for 68 %
    within, chi_squares, p_values = [], [], []
    for _ in range(200):
        a, b = (stats.distribution_function(10.0 ** draw_power_law(rng, rng.poisson(20_000)), VOLUME, edges)
                for _ in range(2))  # Poisson totals: bins independent, as halos in a volume
        check = stats.poisson_agreement(a, b)
        within.append(check["bins_within_poisson"] / check["bins"])
        chi_squares.append(check["chi2"] / check["bins"])
        p_values.append(check["p_value"])
    assert check["bins"] == 6
    assert np.mean(within) == pytest.approx(0.683, abs=0.03)
    assert np.mean(chi_squares) == pytest.approx(1.0, abs=0.1)
    assert 0.35 < np.median(p_values) < 0.65
    biased = stats.distribution_function(10.0 ** draw_power_law(rng, 20_000), VOLUME, edges,
                                         weights=np.full(20_000, 1.3))
    assert stats.poisson_agreement(biased, a)["p_value"] < 1e-6
