"""Each optimizer of `kzoo.optimizers.get` against a NumPy transcription of its textbook update.

The problem: softmax regression (a 5x3 kernel and a bias of 3) on fixed random
data, so the gradient depends on the parameters and the Nesterov look-ahead
matters. Keras runs on float64 variables and the reference in float64; the
learning rates are powers of two, exactly representable in the float32
learning-rate variable Keras keeps, and so are the other hyperparameters
(momentum 0.875, beta_2 1 - 2**-10, ...): Keras's `ops.cast(0.9, "float64")`
rounds a Python float to float32 first (0.9 becomes 0.89999998), which alone
moves a float64 trajectory by ~1e-7 relative. Where Keras places epsilon differently
from the paper (Adam's "epsilon hat"), the run uses epsilon=1e-12 so that the
placement is below the tolerance. RMSProp and NAdam run with epsilon=1e-3: with
a tiny epsilon, a gradient component near zero makes their steps sign-like and
the trajectory chaotic (a 1e-13 change of the start grows past 1e-6), which no
tolerance can survive; `assert_well_conditioned` checks that every reference
run here is insensitive to such a change, so the 1e-6 bound means something.
"""

import keras
import numpy as np
import pytest

import kzoo

STEPS = 60
RTOL = 1e-6


def make_problem(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 5))
    labels = rng.integers(0, 3, size=64)
    y = np.eye(3)[labels]
    params = [rng.standard_normal((5, 3)) * 0.5, rng.standard_normal(3) * 0.5]

    def grad(p):
        w, b = p
        logits = x @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        d = (probs - y) / len(x)  # (64, 3)
        return [x.T @ d, d.sum(axis=0)]

    def loss(p):
        w, b = p
        logits = x @ w + b
        logits -= logits.max(axis=1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return float(-(y * logp).sum(axis=1).mean())

    return params, grad, loss


def run_keras(optimizer, params, grad, steps=STEPS):
    variables = [keras.Variable(p, dtype="float64") for p in params]
    trajectory = []
    for _ in range(steps):
        g = grad([v.numpy() for v in variables])
        optimizer.apply(g, variables)
        trajectory.append([v.numpy().copy() for v in variables])
    return trajectory


# ----- textbook updates, one step each: (params, state, t) -> (params, state) -----


def sgd_ref(lr):
    def step(p, s, t, grad):
        return [w - lr * g for w, g in zip(p, grad(p))], s

    return step


def momentum_ref(lr, gamma):
    # v <- gamma v + lr grad(theta); theta <- theta - v
    def step(p, s, t, grad):
        v = s.get("v", [np.zeros_like(w) for w in p])
        v = [gamma * vi + lr * g for vi, g in zip(v, grad(p))]
        return [w - vi for w, vi in zip(p, v)], {"v": v}

    return step


def nesterov_ref(lr, gamma):
    # v <- gamma v + lr grad(theta - gamma v); theta <- theta - v
    def step(p, s, t, grad):
        v = s.get("v", [np.zeros_like(w) for w in p])
        lookahead = [w - gamma * vi for w, vi in zip(p, v)]
        v = [gamma * vi + lr * g for vi, g in zip(v, grad(lookahead))]
        return [w - vi for w, vi in zip(p, v)], {"v": v}

    return step


def adagrad_ref(lr, eps):
    # G <- G + g^2 (G starts at 0); theta <- theta - lr g / sqrt(G + eps)
    def step(p, s, t, grad):
        g = grad(p)
        G = [Gi + gi**2 for Gi, gi in zip(s.get("G", [np.zeros_like(w) for w in p]), g)]
        return [w - lr * gi / np.sqrt(Gi + eps) for w, gi, Gi in zip(p, g, G)], {"G": G}

    return step


def rmsprop_ref(lr, gamma, eps):
    # G <- gamma G + (1 - gamma) g^2; theta <- theta - lr g / sqrt(G + eps)
    def step(p, s, t, grad):
        g = grad(p)
        G0 = s.get("G", [np.zeros_like(w) for w in p])
        G = [gamma * Gi + (1 - gamma) * gi**2 for Gi, gi in zip(G0, g)]
        return [w - lr * gi / np.sqrt(Gi + eps) for w, gi, Gi in zip(p, g, G)], {"G": G}

    return step


def adam_ref(lr, b1, b2, eps, amsgrad=False, weight_decay=0.0):
    # Kingma & Ba, Algorithm 1; AMSGrad keeps v_max = max(v_max, v) (bias
    # corrections kept, as in Keras and PyTorch); AdamW (Loshchilov & Hutter)
    # decays the weights by lr * weight_decay * theta, decoupled from the moments.
    def step(p, s, t, grad):
        g = grad(p)
        zeros = [np.zeros_like(w) for w in p]
        m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(s.get("m", zeros), g)]
        v = [b2 * vi + (1 - b2) * gi**2 for vi, gi in zip(s.get("v", zeros), g)]
        vmax = [np.maximum(a, b) for a, b in zip(s.get("vmax", zeros), v)] if amsgrad else v
        m_hat = [mi / (1 - b1**t) for mi in m]
        v_hat = [vi / (1 - b2**t) for vi in vmax]
        new = [
            w - lr * weight_decay * w - lr * mh / (np.sqrt(vh) + eps)
            for w, mh, vh in zip(p, m_hat, v_hat)
        ]
        return new, {"m": m, "v": v, "vmax": vmax}

    return step


def nadam_ref(lr, b1, b2, eps, psi, base=0.96):
    # Dozat 2016 as in torch.optim.NAdam.
    def mu(t):
        return b1 * (1 - 0.5 * base ** (t * psi))

    def step(p, s, t, grad):
        g = grad(p)
        zeros = [np.zeros_like(w) for w in p]
        prod = s.get("prod", 1.0) * mu(t)
        prod_next = prod * mu(t + 1)
        m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(s.get("m", zeros), g)]
        v = [b2 * vi + (1 - b2) * gi**2 for vi, gi in zip(s.get("v", zeros), g)]
        new = []
        for w, gi, mi, vi in zip(p, g, m, v):
            m_hat = mu(t + 1) * mi / (1 - prod_next) + (1 - mu(t)) * gi / (1 - prod)
            v_hat = vi / (1 - b2**t)
            new.append(w - lr * m_hat / (np.sqrt(v_hat) + eps))
        return new, {"m": m, "v": v, "prod": prod}

    return step


def run_reference(step, params, grad, steps=STEPS, observe=None):
    p, s = [w.copy() for w in params], {}
    trajectory = []
    for t in range(1, steps + 1):
        p, s = step(p, s, t, grad)
        trajectory.append(observe(p, s) if observe else p)
    return trajectory


def assert_well_conditioned(step, params, grad):
    # A 1e-13 nudge of the start must stay tiny: otherwise roundoff alone
    # would decide whether two correct implementations agree.
    base = run_reference(step, params, grad)
    nudged = run_reference(step, [w + 1e-13 for w in params], grad)
    drift = max(np.abs(a - b).max() for pa, pb in zip(base, nudged) for a, b in zip(pa, pb))
    assert drift < 1e-10, f"reference run is ill-conditioned (drift {drift:.1e})"


def assert_same_trajectory(keras_traj, ref_traj, loss, params):
    assert len(keras_traj) == len(ref_traj) >= 50
    for t, (a, b) in enumerate(zip(keras_traj, ref_traj)):
        for wa, wb in zip(a, b):
            np.testing.assert_allclose(wa, wb, rtol=RTOL, atol=1e-12, err_msg=f"step {t + 1}")
    # The run is not vacuous: the parameters moved and the loss fell.
    assert loss(ref_traj[-1]) < 0.9 * loss(params)


LR_SGD = 2.0**-1
LR_ADAPTIVE = 2.0**-6
GAMMA = 0.875  # momentum, RMSProp's decay, beta_1
BETA_2 = 1.0 - 2.0**-10
BETA_2_FAST = 1.0 - 2.0**-4  # AMSGrad: v must fall at times for the maximum to matter
ADAM = dict(learning_rate=LR_ADAPTIVE, beta_1=GAMMA, beta_2=BETA_2, epsilon=1e-12)

CASES = {
    "sgd": (dict(learning_rate=LR_SGD), sgd_ref(LR_SGD)),
    "momentum": (dict(learning_rate=LR_SGD, momentum=GAMMA), momentum_ref(LR_SGD, GAMMA)),
    # Keras's default epsilon, inside the square root as in the textbook formula.
    "adagrad": (dict(learning_rate=LR_ADAPTIVE * 4), adagrad_ref(LR_ADAPTIVE * 4, 1e-7)),
    "rmsprop": (
        dict(learning_rate=LR_ADAPTIVE, rho=GAMMA, epsilon=1e-3),
        rmsprop_ref(LR_ADAPTIVE, GAMMA, 1e-3),
    ),
    "adam": (ADAM, adam_ref(LR_ADAPTIVE, GAMMA, BETA_2, 1e-12)),
    "amsgrad": (
        {**ADAM, "beta_2": BETA_2_FAST},
        adam_ref(LR_ADAPTIVE, GAMMA, BETA_2_FAST, 1e-12, amsgrad=True),
    ),
    "adamw": (
        {**ADAM, "weight_decay": 0.25},
        adam_ref(LR_ADAPTIVE, GAMMA, BETA_2, 1e-12, weight_decay=0.25),
    ),
    # kzoo's own NAdam keeps Python-float hyperparameters in float64, so
    # Keras's default betas (0.9, 0.999) and the published momentum_decay.
    "nadam": (
        dict(learning_rate=LR_ADAPTIVE, epsilon=1e-3),
        nadam_ref(LR_ADAPTIVE, 0.9, 0.999, 1e-3, 0.004),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_textbook(name):
    params, grad, loss = make_problem()
    kwargs, ref_step = CASES[name]
    assert_well_conditioned(ref_step, params, grad)
    keras_traj = run_keras(kzoo.optimizers.get(name, **kwargs), params, grad)
    ref_traj = run_reference(ref_step, params, grad)
    assert_same_trajectory(keras_traj, ref_traj, loss, params)


def test_nesterov_is_gradient_at_lookahead_point():
    # Keras keeps the look-ahead point theta - gamma v in the variable
    # (Sutskever et al. 2013's reformulation): compare it to the textbook's.
    gamma = GAMMA
    params, grad, loss = make_problem()
    optimizer = kzoo.optimizers.get("nesterov", learning_rate=LR_SGD, momentum=gamma)
    keras_traj = run_keras(optimizer, params, grad)
    ref_traj = run_reference(
        nesterov_ref(LR_SGD, gamma),
        params,
        grad,
        observe=lambda p, s: [w - gamma * v for w, v in zip(p, s["v"])],
    )
    assert_same_trajectory(keras_traj, ref_traj, loss, params)
    # ...and it is not plain momentum, whose trajectory differs.
    plain = run_reference(momentum_ref(LR_SGD, gamma), params, grad)
    assert np.abs(plain[-1][0] - ref_traj[-1][0]).max() > 1e-3


def test_nadam_momentum_decay_matters_and_psi_one_is_keras_nadam():
    params, grad, loss = make_problem()
    hp = dict(learning_rate=LR_ADAPTIVE, beta_1=GAMMA, beta_2=BETA_2, epsilon=1e-3)
    ref_004 = run_reference(nadam_ref(LR_ADAPTIVE, GAMMA, BETA_2, 1e-3, 0.004), params, grad)
    ref_1 = run_reference(nadam_ref(LR_ADAPTIVE, GAMMA, BETA_2, 1e-3, 1.0), params, grad)
    assert np.abs(ref_004[-1][0] - ref_1[-1][0]).max() > 1e-3
    kzoo_004 = run_keras(kzoo.optimizers.NAdam(**hp), params, grad)
    kzoo_1 = run_keras(kzoo.optimizers.NAdam(**hp, momentum_decay=1.0), params, grad)
    keras_nadam = run_keras(keras.optimizers.Nadam(**hp), params, grad)
    assert_same_trajectory(kzoo_004, ref_004, loss, params)
    assert_same_trajectory(kzoo_1, ref_1, loss, params)
    # Keras's Nadam is the psi = 1 case, not the published default. It rounds
    # its constant 0.96 through float32 in the per-step mu but not in the
    # running product, which moves elements near 0 by ~5e-10: compare it
    # relative to the parameters' scale.
    for a, b in zip(keras_nadam, ref_1):
        for wa, wb in zip(a, b):
            assert np.abs(wa - wb).max() <= RTOL * np.abs(wb).max()
    assert np.abs(keras_nadam[-1][0] - ref_004[-1][0]).max() > 1e-3


def test_amsgrad_maximum_matters_on_this_problem():
    params, grad, _ = make_problem()
    ams_step = adam_ref(LR_ADAPTIVE, GAMMA, BETA_2_FAST, 1e-12, amsgrad=True)
    ams = run_reference(ams_step, params, grad)
    plain = run_reference(adam_ref(LR_ADAPTIVE, GAMMA, BETA_2_FAST, 1e-12), params, grad)
    assert np.abs(ams[-1][0] - plain[-1][0]).max() > 1e-4


def test_adagrad_starts_accumulator_at_zero():
    optimizer = kzoo.optimizers.get("adagrad")
    assert optimizer.initial_accumulator_value == 0.0
    variable = keras.Variable(np.ones(3))
    optimizer.build([variable])
    accumulators = [v for v in optimizer.variables if "accumulator" in v.path]
    np.testing.assert_array_equal(accumulators[0].numpy(), 0.0)
