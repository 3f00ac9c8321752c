"""Seed 000's classifiers of latent codes, as scikit-learn estimators.

Seed 000 §4.2.2: a random forest of 1500 trees, Gini criterion, scikit-learn defaults
otherwise; a logistic regression (LR), an MLP with one hidden layer of 512 (MLP-2) and one
with four hidden layers of 2048, 512, 512, 512 (MLP-5): ReLU between layers, a sigmoid
output, binary cross-entropy, stochastic gradient descent with learning rate 5e-4. The seed
trains LR and the MLPs in PyTorch; here they are scikit-learn's `MLPClassifier` (LR = no
hidden layer), which is that same model and loss and saves in the safe skops bundle.

Not fixed by the seed, chosen here: codes are standardised first (`StandardScaler`, PCA codes
span orders of magnitude), SGD keeps scikit-learn's momentum 0.9 and mini-batches of 200,
and the number of epochs is `max_iter`, stopping earlier only when the training loss has not
fallen for 10 epochs (``tol=0``: at learning rate 5e-4 a loss falls slowly, and scikit-learn's
default tolerance would stop it after a dozen epochs).
"""

from __future__ import annotations

from sklearn.base import ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

SEED_LR = 5e-4
HIDDEN = {"lr": (), "mlp2": (512,), "mlp5": (2048, 512, 512, 512)}
CLASSIFIERS = ("rf", *HIDDEN)
RF_TREES = 1500


def make_classifier(name: str, seed: int = 0, max_iter: int = 100) -> Pipeline | ClassifierMixin:
    """An unfitted classifier `name` (one of `CLASSIFIERS`) with seed 000's hyper-parameters.
    One thread (``n_jobs=1``): training shares the machine."""
    if name == "rf":
        return RandomForestClassifier(n_estimators=RF_TREES, criterion="gini", n_jobs=1,
                                      random_state=seed)
    if name not in HIDDEN:
        raise ValueError(f"unknown classifier {name!r}; one of {CLASSIFIERS}")
    mlp = MLPClassifier(hidden_layer_sizes=HIDDEN[name], activation="relu", solver="sgd",
                        learning_rate="constant", learning_rate_init=SEED_LR, alpha=0.0,
                        max_iter=max_iter, tol=0.0, random_state=seed)
    return make_pipeline(StandardScaler(), mlp)


def strip_for_saving(model) -> None:
    """Drop the optimiser state an MLP keeps after `fit` (not needed to predict)."""
    est = model.steps[-1][1] if isinstance(model, Pipeline) else model
    if isinstance(est, MLPClassifier):
        est._optimizer = None
