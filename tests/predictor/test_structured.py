"""Structured, bits-ignored and ensemble predictors: their start, their fast path, their saving,
and on SYNTHETIC samples whose accuracy falls steeply at 2 bits, that they beat ignoring the bits."""
import numpy as np
import pytest
import torch

from apq.predictor.estimator import MLPPredictor
from apq.predictor.intervals import HeldOut
from apq.predictor.load import load_quant_predictor, save_predictor
from apq.predictor.network import StructuredQuantNet
from apq.predictor.quant_models import on_accuracy_scale
from apq.predictor.metrics import pairwise_accuracy
from apq.predictor.structured import (ARCH_ALPHAS, BitsIgnoredPredictor, EnsemblePredictor, GeneDropPredictor,
                                     RidgeQuantPredictor, StructuredQuantPredictor, bounded_ridge, choose_penalty,
                                     pairwise_fit)
from apq.predictor.synthetic import quant_drop, synthetic_rows
from apq.quant.sensitivity import largest_genome, prior_weights, probe_genomes
from apq.predictor.train import predict_array
from apq.space.encoding import Encoder

FP32 = dict(hidden_size=32, max_epochs=80, patience=10)
DROP = dict(hidden_size=16, lr=1e-2, weight_decay=1e-4, max_epochs=150, patience=20)


@pytest.fixture(scope="module")
def space2(fmnist):
    """fmnist, whose menu has 2 bits (issue 16)."""
    assert 2 in fmnist.bit_choices
    return fmnist


@pytest.fixture(scope="module")
def fitted(space2):
    """An fp32 predictor, and SYNTHETIC quantized samples split into 240 training and 160 test rows."""
    fp32_rows = synthetic_rows(space2, "fp32", 400, seed=1)
    dim = Encoder(space2).fp32_dim
    fp32 = MLPPredictor(seed=0, **FP32).fit(fp32_rows.encodings, fp32_rows.accuracy)
    quant = synthetic_rows(space2, "quant", 400, seed=2, noise=0.3)
    return fp32, dim, quant


def test_structured_starts_at_the_fp32_prediction_minus_the_mean_drop(fitted):
    fp32, dim, quant = fitted
    model = StructuredQuantPredictor(dim, fp32, drop="linear", **DROP)
    net = model._initial_network(quant.encodings, quant.accuracy)
    start = predict_array(net, quant.encodings, torch.device("cpu"))
    base = fp32.predict(quant.encodings[:, :dim])
    assert np.all(np.diff(start[np.argsort(base)]) >= -1e-4)  # one shift in logits keeps the fp32 order
    assert abs(np.mean(start) - np.mean(quant.accuracy)) < 5  # and starts near the quantized mean
    assert torch.count_nonzero(net.drop.weight) == 0 and not any(p.requires_grad for p in net.base.parameters())


def test_the_linear_drop_never_rewards_a_bit_choice(fitted):
    """Labels where every encoding column (8 bits included) adds accuracy: unconstrained, the
    linear drop would fit negative weights that a search sums; its weights stay >= 0 instead, so
    no bit policy is predicted above the drop's bias alone."""
    fp32, dim, quant = fitted
    X = quant.encodings
    y = fp32.predict(X[:, :dim]) + 0.05 * X[:, dim:].sum(axis=1)
    model = StructuredQuantPredictor(dim, fp32, drop="linear", **DROP).fit(X, y)
    weights = model.network_.drop.weight.detach()
    assert torch.all(weights >= 0) and torch.count_nonzero(weights) < weights.numel()
    mlp = StructuredQuantPredictor(dim, fp32, drop="mlp", **DROP).fit(X, y)
    assert torch.any(mlp.network_.drop[0].weight < 0)  # the MLP drop is not constrained


def test_a_sensitivity_prior_ranks_better_from_few_rows(fitted, space2):
    """SYNTHETIC samples, 40 training rows: the linear drop started from the synthetic truth's own
    one-layer probes (what a scan of a real supernet measures) ranks 160 held-out rows better than
    the drop started constant; the MLP drop takes no prior."""
    fp32, dim, quant = fitted
    genomes, where = probe_genomes(space2)
    drop = np.zeros((space2.n_blocks, 4, len(space2.bit_choices)))
    drop[tuple(where.T)] = quant_drop(space2, genomes) - quant_drop(space2, largest_genome(space2)[None])[0]
    prior = prior_weights(space2, drop)
    X, y, train, test = quant.encodings, quant.accuracy, np.arange(40), np.arange(240, 400)
    held = HeldOut(y[test], None, np.ones((1, len(test))))
    pairwise = {name: held.figures(StructuredQuantPredictor(dim, fp32, prior=p, **DROP).fit(X[train], y[train])
                                   .predict(X[test]))[2, 0] for name, p in (("plain", None), ("prior", prior))}
    assert pairwise["prior"] > pairwise["plain"] + 0.1, pairwise  # measured 0.94 vs 0.64
    with pytest.raises(ValueError, match="linear drop"):
        StructuredQuantPredictor(dim, fp32, drop="mlp", prior=prior)


@pytest.mark.parametrize("drop", ["linear", "mlp"])
def test_fast_path_equals_forward(fitted, space2, drop):
    fp32, dim, quant = fitted
    model = StructuredQuantPredictor(dim, fp32, drop=drop, **{**DROP, "max_epochs": 5}).fit(quant.encodings,
                                                                                             quant.accuracy)
    hot = Encoder(space2).hot_indices(quant.genomes)
    assert np.allclose(model.predict_hot(hot), model.predict(quant.encodings), atol=1e-4)


def test_ridge_network_computes_the_fitted_regression(fitted, space2):
    """The torch network reproduces scikit-learn's ridge on [fp32 prediction, encoding], on both paths."""
    from sklearn.linear_model import Ridge

    fp32, dim, quant = fitted
    X, y = quant.encodings, quant.accuracy
    model = RidgeQuantPredictor(dim, fp32).fit(X, y)
    features = np.column_stack([fp32.predict(X[:, :dim]), X])
    expected = Ridge(alpha=model.alpha_).fit(features, y).predict(features)
    assert np.allclose(model.predict(X), expected, atol=1e-3)
    assert np.allclose(model.predict_hot(Encoder(space2).hot_indices(quant.genomes)), expected, atol=1e-3)


def test_ridge_prior_is_one_more_regression_column_folded_into_the_network(fitted, space2):
    from sklearn.linear_model import Ridge

    fp32, dim, quant = fitted
    X, y = quant.encodings, quant.accuracy
    prior = np.random.default_rng(0).uniform(0, 3, X.shape[1] - dim)
    model = RidgeQuantPredictor(dim, fp32, prior=prior).fit(X, y)
    features = np.column_stack([fp32.predict(X[:, :dim]), X[:, dim:] @ prior, X])
    expected = Ridge(alpha=model.alpha_).fit(features, y).predict(features)
    assert np.allclose(model.predict(X), expected, atol=1e-3)
    assert np.allclose(model.predict_hot(Encoder(space2).hot_indices(quant.genomes)), expected, atol=1e-3)


def test_pessimistic_ensemble_subtracts_the_members_spread(fitted, space2, tmp_path):
    fp32, dim, quant = fitted
    X = quant.encodings
    members = (RidgeQuantPredictor(dim, fp32).fit(X, quant.accuracy),
               StructuredQuantPredictor(dim, fp32, **{**DROP, "max_epochs": 3}).fit(X, quant.accuracy))
    each = np.stack([m.predict(X) for m in members])
    model = EnsemblePredictor(members, spread_penalty=1.5).fit()
    expected = each.mean(0) - 1.5 * each.std(0)
    assert np.allclose(model.predict(X), expected, atol=1e-3)
    assert np.allclose(model.predict_hot(Encoder(space2).hot_indices(quant.genomes)), expected, atol=1e-3)
    loaded = load_quant_predictor(space2, save_predictor(model, tmp_path / "quant.pt", "quant", space2))
    assert loaded.network_.spread_penalty == 1.5 and np.allclose(loaded.predict(X), expected, atol=1e-3)


def test_saturates_at_chance():
    net = StructuredQuantNet(MLPPredictor(hidden_size=8).fit(np.eye(4, dtype=np.float32), np.full(4, 90.0,
                                                                                               np.float32)).network_,
                             bit_dim=3, floor=10.0)
    with torch.no_grad():
        net.drop.bias.fill_(50.0)
    out = net(torch.ones(5, 7))
    assert torch.all(out >= 10.0) and torch.all(out < 10.01)


def test_structured_and_ensemble_beat_ignoring_the_bits(fitted, space2):
    """Fails if the drop does not learn the bits: on these samples 2-bit layers cost tens of points."""
    fp32, dim, quant = fitted
    train, test = np.arange(240), np.arange(240, 400)
    held = HeldOut.make(quant.accuracy[test], None, 200, seed=0)
    X, y = quant.encodings, quant.accuracy
    ignored = BitsIgnoredPredictor(dim, fp32).fit(X[train], y[train])
    reference = held.report(ignored.predict(X[test]))
    models = [StructuredQuantPredictor(dim, fp32, drop=d, **DROP).fit(X[train], y[train]) for d in ("linear", "mlp")]
    models.append(RidgeQuantPredictor(dim, fp32).fit(X[train], y[train]))
    models.append(GeneDropPredictor(dim, fp32, tuple(space2.bit_choices)).fit(X[train], y[train]))
    ensemble = EnsemblePredictor(tuple(models)).fit()
    for model in (*models, ensemble):
        report = held.report(model.predict(X[test]))
        assert report["pairwise_acc"] >= reference["pairwise_acc"] + 0.15
        assert held.difference(model.predict(X[test]), ignored.predict(X[test]))["pairwise_acc_ci"][0] > 0.05
        assert report["rmse"] < 0.8 * reference["rmse"]


def test_gene_drop_fits_a_factor_per_gene_on_the_prior_and_a_drop_per_gene_and_narrower_width(fitted, space2):
    """Its bit weights are a_g * prior + c_gw with every number >= 0, the widest width costs only
    through the prior, and it saves and loads as the structured linear predictor it computes."""
    fp32, dim, quant = fitted
    widths = tuple(space2.bit_choices)
    prior = np.random.default_rng(0).uniform(0, 0.1, quant.encodings.shape[1] - dim)
    model = GeneDropPredictor(dim, fp32, widths, prior=prior).fit(quant.encodings, quant.accuracy)
    n_widths, genes = len(widths), 4
    assert model.coef_.shape == (genes + genes * (n_widths - 1),) and np.all(model.coef_ >= 0)
    weights = model.network_.drop.weight.detach().numpy()[0].reshape(genes, space2.n_blocks, n_widths)
    counts = model.coef_[genes:].reshape(genes, n_widths - 1)
    widest = int(np.argmax(widths))
    expected = model.coef_[:genes, None, None] * prior.reshape(weights.shape)
    expected[:, :, [w for w in range(n_widths) if w != widest]] += counts[:, None, :]
    assert np.allclose(weights, expected, atol=1e-6)
    plain = GeneDropPredictor(dim, fp32, widths).fit(quant.encodings, quant.accuracy)
    assert plain.coef_.shape == (genes * (n_widths - 1),)
    assert not np.any(plain.network_.drop.weight.detach().numpy()[0].reshape(weights.shape)[:, :, widest])
    with pytest.raises(ValueError, match="widths"):
        GeneDropPredictor(dim, fp32, (4, 8, 16)).fit(quant.encodings, quant.accuracy)


def test_pairwise_fit_orders_rows_a_least_squares_fit_misorders():
    """Two columns; the labels follow the first, while rows with a large second column carry large
    noise that a least-squares fit chases. The ranking fit keeps coef >= 0, weighs the first column
    more, and orders the rows better than its start."""
    rng = np.random.default_rng(0)
    design = rng.uniform(0, 1, (200, 2))
    y = -design[:, 0] + 5 * design[:, 1] * (rng.random(200) < 0.1)  # outliers tied to column 2
    base = np.zeros(200)
    start = np.array([0.0, 1.0])
    coef = pairwise_fit(design, base, y, temperature=0.05, start=start)
    assert np.all(coef >= 0) and coef[0] > coef[1]
    assert pairwise_accuracy(y, base - design @ coef) > pairwise_accuracy(y, base - design @ start)
    assert np.array_equal(pairwise_fit(design, base, np.ones(200), 0.05, start), start)  # no pair to order


def test_rank_model_is_the_gene_drop_network_refitted_to_order_the_rows(fitted, space2):
    fp32, dim, quant = fitted
    widths = tuple(space2.bit_choices)
    prior = np.random.default_rng(0).uniform(0, 0.1, quant.encodings.shape[1] - dim)
    train, test = slice(0, 240), slice(240, None)
    gene = GeneDropPredictor(dim, fp32, widths, prior=prior).fit(quant.encodings[train], quant.accuracy[train])
    rank = GeneDropPredictor(dim, fp32, widths, prior=prior, rank_temperature=0.02).fit(
        quant.encodings[train], quant.accuracy[train])
    assert rank.coef_.shape == gene.coef_.shape and np.all(rank.coef_ >= 0) and not np.allclose(rank.coef_, gene.coef_)
    ranked = pairwise_accuracy(quant.accuracy[test], rank.predict(quant.encodings[test]))
    assert ranked >= pairwise_accuracy(quant.accuracy[test], gene.predict(quant.encodings[test])) - 0.02
    # the bias is the least-squares one: no mean error on the training rows, in logit space
    assert abs(np.mean(rank.predict(quant.encodings[train]) - quant.accuracy[train])) < 1.0


def test_bounded_ridge_keeps_design_coefficients_non_negative_and_shrinks_the_free_ones():
    rng = np.random.default_rng(0)
    design, free = rng.uniform(0, 1, (300, 2)), rng.normal(0, 1, (300, 3))
    target = design @ [2.0, -1.0] + free @ [0.5, -0.5, 0.0] + 0.3 + rng.normal(0, 0.01, 300)
    coef, weights, bias = bounded_ridge(design, free, target, alpha=1e-6)
    assert coef[0] == pytest.approx(2.0, abs=0.2) and coef[1] == pytest.approx(0.0, abs=1e-9)  # -1: clipped at 0
    assert np.allclose(weights, [0.5, -0.5, 0.0], atol=0.05)
    assert np.isfinite(bias)
    _, shrunk, _ = bounded_ridge(design, free, target, alpha=1e4)
    assert np.abs(shrunk).max() < 0.1 * np.abs(weights).max()


def test_penalty_chosen_by_cross_validation_follows_whether_the_free_columns_carry_signal():
    rng = np.random.default_rng(1)
    design, free = rng.uniform(0, 1, (200, 2)), rng.normal(0, 1, (200, 20))
    noise = rng.normal(0, 0.5, 200)
    alphas = (1e-2, 1e4)
    assert choose_penalty(design, free, design @ [1.0, 1.0] + free[:, 0] + noise, alphas) == 1e-2
    assert choose_penalty(design, free, design @ [1.0, 1.0] + noise, alphas) == 1e4


def test_arch_model_adds_free_architecture_weights_to_the_gene_drop(fitted, space2, tmp_path):
    """The synthetic drop grows as a block narrows: an architecture term in the drop fits it better
    than the gene drop alone; the bit part keeps its >= 0 weights, the architecture part is free."""
    fp32, dim, quant = fitted
    widths = tuple(space2.bit_choices)
    prior = np.random.default_rng(0).uniform(0, 0.1, quant.encodings.shape[1] - dim)
    train, test = slice(0, 240), slice(240, None)
    gene = GeneDropPredictor(dim, fp32, widths, prior=prior).fit(quant.encodings[train], quant.accuracy[train])
    arch = GeneDropPredictor(dim, fp32, widths, prior=prior, arch_alphas=ARCH_ALPHAS).fit(
        quant.encodings[train], quant.accuracy[train])
    weight = arch.network_.drop.weight.detach().numpy()[0]
    assert weight.shape == (quant.encodings.shape[1],) and np.all(weight[dim:] >= 0) and np.any(weight[:dim] < 0)
    assert arch.arch_alpha_ in ARCH_ALPHAS and np.all(arch.coef_ >= 0)
    rmse = {name: np.sqrt(np.mean((model.predict(quant.encodings[test]) - quant.accuracy[test]) ** 2))
            for name, model in (("gene", gene), ("arch", arch))}
    assert rmse["arch"] < rmse["gene"]
    assert np.allclose(arch.predict_hot(Encoder(space2).hot_indices(quant.genomes[test])),
                       arch.predict(quant.encodings[test]), atol=1e-3)
    loaded = load_quant_predictor(space2, save_predictor(arch, tmp_path / "quant.pt", "quant", space2))
    assert np.array_equal(loaded.predict(quant.encodings), arch.predict(quant.encodings))
    with pytest.raises(ValueError, match="do not combine"):
        GeneDropPredictor(dim, fp32, widths, rank_temperature=0.02, arch_alphas=ARCH_ALPHAS)


def test_linear_arch_drop_projects_only_its_bit_part():
    base = MLPPredictor(hidden_size=8, max_epochs=1).fit(np.eye(6, dtype=np.float32), np.full(6, 90.0)).network_
    net = StructuredQuantNet(base, bit_dim=4, drop="linear_arch")
    with torch.no_grad():
        net.drop.weight.fill_(-1.0)
    net.project()
    weight = net.drop.weight.detach().numpy()[0]
    assert np.all(weight[:6] == -1.0) and np.all(weight[6:] == 0.0)


def test_bits_ignored_ranks_as_the_fp32_predictor(fitted):
    fp32, dim, quant = fitted
    model = BitsIgnoredPredictor(dim, fp32).fit(quant.encodings, quant.accuracy)
    offset = model.predict(quant.encodings) - fp32.predict(quant.encodings[:, :dim])
    assert np.allclose(offset, np.mean(quant.accuracy) - np.mean(fp32.predict(quant.encodings[:, :dim])))


def test_structured_and_ensemble_round_trip_weights_only(fitted, space2, tmp_path):
    fp32, dim, quant = fitted
    prior = np.linspace(0, 1, quant.encodings.shape[1] - dim)  # a sensitivity prior only starts the fit
    members = tuple(StructuredQuantPredictor(dim, fp32, drop=d, prior=p, **{**DROP, "max_epochs": 3}).fit(
        quant.encodings, quant.accuracy) for d, p in (("linear", prior), ("mlp", None)))
    members += (RidgeQuantPredictor(dim, fp32, prior=prior).fit(quant.encodings, quant.accuracy),)
    gene = GeneDropPredictor(dim, fp32, tuple(space2.bit_choices), prior=prior).fit(quant.encodings, quant.accuracy)
    for model in (*members, EnsemblePredictor(members).fit(), gene):
        path = save_predictor(model, tmp_path / "quant.pt", "quant", space2)
        payload = torch.load(path, weights_only=True)
        assert not {"base", "members", "prior"} & set(payload["estimator"])
        loaded = load_quant_predictor(space2, path)
        # the gene drop is a structured linear network fitted another way, and loads as one
        assert type(loaded) is (StructuredQuantPredictor if model is gene else type(model))
        assert loaded.encoding_dim == Encoder(space2).dim
        assert np.array_equal(loaded.predict(quant.encodings), model.predict(quant.encodings))


def test_label_mapped_onto_accuracy():
    accuracy = np.array([80.0, 85.0, 90.0])
    assert np.array_equal(on_accuracy_scale(accuracy, accuracy), accuracy)
    loss = 2.0 - accuracy / 50  # lower is better
    assert np.allclose(on_accuracy_scale(loss, accuracy), accuracy, atol=1e-4)


def test_pairwise_fit_on_many_rows_orders_a_seeded_subset_of_pairs(monkeypatch):
    from apq.predictor import structured

    rng = np.random.default_rng(1)
    design, y = rng.uniform(0, 1, (60, 2)), rng.normal(size=60)
    monkeypatch.setattr(structured, "MAX_PAIRS", 500)  # 60 rows make 1770 pairs
    first = pairwise_fit(design, np.zeros(60), y, 0.05, np.ones(2))
    assert np.array_equal(first, pairwise_fit(design, np.zeros(60), y, 0.05, np.ones(2))) and np.all(first >= 0)
