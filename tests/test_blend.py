from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from topicclf.errors import ModelBundleError
from topicclf.model.blend import LinearBlend, calibrate, choose_weight, cross_fit, fit_linear
from topicclf.model.thresholds import tune_policy


def _tune(y: np.ndarray, scores: np.ndarray):  # type: ignore[no-untyped-def]
    return tune_policy(y, scores, strategy="global", fixed_value=0.5, shrinkage=5.0,
                       fallback="never", top_k=0, multiclass=False)  # fmt: skip


def test_fit_linear_learns_telling_features_and_handles_constant_topics() -> None:
    x = sp.csr_matrix(np.array([[1, 0, 0], [1, 0, 1], [0, 1, 0], [0, 1, 1]], dtype=np.float32))
    y = np.array([[1, 0, 1], [1, 0, 1], [0, 1, 1], [0, 1, 1]], dtype=np.float32)
    coef, intercept = fit_linear(x, y, c=1.0)
    assert coef.shape == (3, 3) and intercept.shape == (3,)
    assert coef[0, 0] > 0 > coef[0, 1] and coef[1, 1] > 0 > coef[1, 0]
    margins = np.asarray(x @ coef.T) + intercept
    assert ((margins[:, :2] > 0) == (y[:, :2] > 0)).all()
    np.testing.assert_array_equal(coef[2], 0.0)  # on every document: a constant
    assert intercept[2] == 1.0


def test_fit_linear_gives_the_same_weights_in_threads_as_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The topics are fitted in threads: the weights must not depend on their order or timing.
    from topicclf.model import blend

    rng = np.random.default_rng(5)
    x = sp.random(300, 400, density=0.03, format="csr", random_state=5, dtype=np.float32)
    y = (rng.random((300, 12)) < 0.2).astype(np.float32)
    y[:, 3] = 0  # a constant topic among the others
    monkeypatch.setattr(blend, "fit_threads", lambda: 1)
    alone = fit_linear(x, y, 1.0)
    monkeypatch.setattr(blend, "fit_threads", lambda: 4)
    for _ in range(3):
        threaded = fit_linear(x, y, 1.0)
        assert np.array_equal(threaded[0], alone[0]) and np.array_equal(threaded[1], alone[1])
    assert alone[1][3] == -1.0 and not alone[0][3].any()


def test_calibration_maps_margins_to_probabilities() -> None:
    margins = np.array([[-2.0, -1.0], [1.5, -1.2], [2.0, 0.8], [-1.0, 1.1], [0.3, -0.2]])
    y = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]], dtype=np.float32)
    slope, offset = calibrate(margins, y)

    def probability(m: float) -> float:
        return 1 / (1 + np.exp(-(slope * m + offset)))

    assert slope > 0 and probability(2.0) > 0.5 > probability(-2.0)
    assert calibrate(margins, np.zeros_like(y)) == (1.0, 0.0)
    # Margins that rank backwards get no slope, only the topics' base rate (4 in 10).
    slope, offset = calibrate(-margins, y)
    assert slope == 0.0 and offset == pytest.approx(np.log(0.4 / 0.6))


def test_cross_fit_gives_held_out_margins_and_the_mean_of_the_fold_models() -> None:
    rng = np.random.default_rng(3)
    x = sp.random(60, 12, density=0.4, format="csr", random_state=4, dtype=np.float32)
    y = (rng.random((60, 2)) < 0.4).astype(np.float32)
    folds = []
    margins, coef, intercept = cross_fit(x, y, 1.0, 3, seed=7, on_fold=lambda: folds.append(1))
    assert len(folds) == 3 and margins.shape == (60, 2)
    held_out = np.array_split(np.random.default_rng(7).permutation(60), 3)
    fold_models = []
    for held in held_out:
        rest = np.setdiff1d(np.arange(60), held)
        fold_coef, fold_intercept = fit_linear(x[rest], y[rest], 1.0)
        fold_models.append((fold_coef, fold_intercept))
        expected = np.asarray(x[held] @ fold_coef.T) + fold_intercept
        np.testing.assert_allclose(margins[held], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(coef, np.mean([m[0] for m in fold_models], axis=0), atol=1e-6)
    np.testing.assert_allclose(intercept, np.mean([m[1] for m in fold_models], axis=0), atol=1e-6)


def test_scores_blend_and_multiclass_rows() -> None:
    blend = LinearBlend(
        np.array([[1.0, 0.0], [0.0, 2.0]], dtype=np.float32),
        np.array([0.0, -1.0], dtype=np.float32),
        slope=2.0, offset=0.5, weight=0.25, multiclass=False,
    )  # fmt: skip
    x = sp.csr_matrix(np.array([[1.0, 1.0]], dtype=np.float32))
    expected = 1 / (1 + np.exp(-(2.0 * np.array([1.0, 1.0]) + 0.5)))
    np.testing.assert_allclose(blend.scores(x)[0], expected, rtol=1e-6)
    network = np.array([[0.2, 0.6]], dtype=np.float32)
    np.testing.assert_allclose(blend.blend(network, x), 0.75 * network + 0.25 * expected, rtol=1e-6)
    blend.weight = 0.0
    assert blend.blend(network, x) is network
    blend.multiclass = True
    np.testing.assert_allclose(blend.scores(x).sum(axis=1), 1.0, rtol=1e-6)


def test_weight_follows_the_better_model() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random((60, 4)) < 0.3).astype(np.float32)
    good = np.clip(y * 0.8 + rng.random(y.shape) * 0.15, 0, 1)
    noise = rng.random(y.shape)
    weight, by_weight = choose_weight(noise, good, y, _tune)
    assert weight == 0.8 and by_weight[0.8] > by_weight[0.0]
    weight, by_weight = choose_weight(good, noise, y, _tune)
    assert weight < 0.5 and by_weight[0.0] == pytest.approx(1.0)
    weight, _ = choose_weight(good, good, y, _tune)
    assert weight == 0.8  # a tie goes to the larger weight


def test_round_trip_and_inconsistent_arrays() -> None:
    blend = LinearBlend(
        np.ones((3, 5), np.float32), np.zeros(3, np.float32), 1.5, -0.5, 0.35, False
    )
    back = LinearBlend.from_arrays(blend.to_arrays(), 3, 5)
    assert (back.slope, back.offset, back.weight, back.multiclass) == (1.5, -0.5, 0.35, False)
    np.testing.assert_array_equal(back.coef, blend.coef)
    with pytest.raises(ModelBundleError, match=r"shape \(3, 5\) for 4 topics and 5 features"):
        LinearBlend.from_arrays(blend.to_arrays(), 4, 5)
    broken = blend.to_arrays()
    broken["weight"] = np.array([1.5])
    with pytest.raises(ModelBundleError, match="blend weight 1.5 is not between 0 and 1"):
        LinearBlend.from_arrays(broken, 3, 5)
    del broken["calibration"]
    with pytest.raises(ModelBundleError, match="incomplete or malformed"):
        LinearBlend.from_arrays(broken, 3, 5)
