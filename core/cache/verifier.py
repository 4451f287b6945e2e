"""The learned pair verifier: may the answer cached for one prompt serve another?

Similar embeddings are not the same question ("convert 100 USD to EUR" and "... EUR to
USD" score 0.98). After the vector search finds candidates, the verifier scores each
(query, cached prompt) pair with a small learned model over :mod:`core.cache.pair_features`
and serves only above a threshold. The score estimates the probability that one answer
serves both prompts.

The model (a small ensemble of one-hidden-layer networks: the features interact, so
"same words, no rule fired" means more than either alone) ships as
``cache_verifier.json`` (trained on the dev split by
``centwise cache train-verifier``; the README says which pairs). It carries its own
**operating curve**: the hit rate and false-hit rate at each score threshold, measured
out of fold on the dev split (each score comes from a model that never saw that pair's
source). :meth:`VerifierModel.threshold_for` turns the user's bound on wrong answers
(``[cache] max_error_rate``) into a threshold from that curve, with a margin: it
picks the lowest threshold whose dev false-hit rate is at most half the bound.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.cache.guard import GuardVerdict, check
from core.cache.minilm import MiniLMEmbedder, TokenStates
from core.cache.pair_features import FEATURE_NAMES, pair_features
from core.errors import ConfigError
from core.resources import resource_path

__all__ = [
    "MODEL_FILE",
    "CurvePoint",
    "Member",
    "PairScore",
    "PairVerifier",
    "VerifierModel",
    "load_model",
]

MODEL_FILE = "cache_verifier.json"
MARGIN = 0.5  # serve where the dev false-hit rate is at most half the user's bound


@dataclass(frozen=True, slots=True)
class CurvePoint:
    """Serving above ``threshold`` on the dev split (out of fold)."""

    threshold: float
    hit_rate: float
    false_hit_rate: float


@dataclass(frozen=True, slots=True)
class Member:
    """One small network of the ensemble: ``sigmoid(tanh(z @ w1 + b1) @ w2 + b2)``."""

    w1: tuple[tuple[float, ...], ...]  # features x hidden
    b1: tuple[float, ...]
    w2: tuple[float, ...]
    b2: float

    def score(self, z: np.ndarray) -> np.ndarray:
        hidden = np.tanh(z @ np.asarray(self.w1) + np.asarray(self.b1))
        logits = hidden @ np.asarray(self.w2) + self.b2
        out: np.ndarray = 1 / (1 + np.exp(-np.clip(logits, -40, 40)))
        return out


@dataclass(frozen=True, slots=True)
class VerifierModel:
    """An ensemble of one-hidden-layer networks over standardised features (the
    average of their probabilities), and its dev operating curve."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    members: tuple[Member, ...]
    curve: tuple[CurvePoint, ...]
    trained_on: dict[str, Any] = field(default_factory=dict)

    def score(self, rows: np.ndarray) -> np.ndarray:
        """Probability that each row's pair may share an answer."""
        z = (rows - np.asarray(self.mean)) / np.asarray(self.scale)
        out: np.ndarray = np.mean([m.score(z) for m in self.members], axis=0)
        return out

    def threshold_for(self, max_error_rate: float) -> float:
        """The lowest curve threshold whose dev false-hit rate is within the bound's
        margin; 1.0 (serve nothing) when none is."""
        allowed = max_error_rate * MARGIN
        ok = [p.threshold for p in self.curve if p.false_hit_rate <= allowed]
        return min(ok, default=1.0)

    def point_for(self, max_error_rate: float) -> CurvePoint | None:
        t = self.threshold_for(max_error_rate)
        return next((p for p in self.curve if p.threshold == t), None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["curve"] = [asdict(p) for p in self.curve]
        return {"version": 1, **data}

    def save(self, path: Path) -> None:
        """Write the model to ``path`` atomically (a reader never sees half a file)."""
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)


def _member(data: dict[str, Any]) -> Member:
    return Member(
        w1=tuple(tuple(float(x) for x in row) for row in data["w1"]),
        b1=tuple(float(x) for x in data["b1"]),
        w2=tuple(float(x) for x in data["w2"]),
        b2=float(data["b2"]),
    )


def _model_from_json(data: dict[str, Any], source: str) -> VerifierModel:
    try:
        model = VerifierModel(
            features=tuple(data["features"]),
            mean=tuple(float(x) for x in data["mean"]),
            scale=tuple(float(x) for x in data["scale"]),
            members=tuple(_member(m) for m in data["members"]),
            curve=tuple(CurvePoint(**p) for p in data["curve"]),
            trained_on=dict(data.get("trained_on", {})),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"verifier model {source} is malformed: {e!r}") from None
    if model.features != FEATURE_NAMES:
        raise ConfigError(
            f"verifier model {source} was trained on other features; retrain it with "
            "`centwise cache train-verifier`"
        )
    n = len(FEATURE_NAMES)
    shapes_ok = model.members and all(
        len(m.w1) == n and all(len(r) == len(m.b1) == len(m.w2) for r in m.w1)
        for m in model.members
    )
    if not (len(model.mean) == len(model.scale) == n and shapes_ok):
        raise ConfigError(f"verifier model {source}: weights do not fit {n} features")
    return model


def load_model(path: Path | None = None) -> VerifierModel:
    """The shipped model, or the one at ``path``; a bad file is a ConfigError."""
    where = resource_path(MODEL_FILE) if path is None else Path(path)
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read verifier model {where}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"verifier model {where} is not JSON: {e.msg}") from None
    if not isinstance(data, dict) or data.get("version") != 1:
        raise ConfigError(f"verifier model {where}: unknown format")
    return _model_from_json(data, str(where))


@dataclass(frozen=True, slots=True)
class PairScore:
    """The verifier's view of one candidate: its score and the guard's findings."""

    score: float
    guard_reasons: tuple[str, ...]


class PairVerifier:
    """Scores (query, candidate) prompt pairs with a :class:`VerifierModel`.

    Uses MiniLM's token states whatever embedder the cache searches with, so the
    features mean what they meant in training. The states of the last
    ``memory`` texts are kept (about 40 KB each): a prompt is encoded once for the
    search and the verifier, and a recently cached prompt is not encoded again when it
    comes up as a candidate. Thread-safe; CPU-bound: call it off the UI thread and off
    the event loop."""

    def __init__(
        self, embedder: MiniLMEmbedder, model: VerifierModel | None = None, *, memory: int = 1024
    ) -> None:
        self.embedder = embedder
        self.model = load_model() if model is None else model
        self._memory = memory
        self._states: OrderedDict[str, TokenStates] = OrderedDict()
        self._lock = threading.Lock()

    def states(self, texts: Sequence[str]) -> list[TokenStates]:
        """Each text's token states, from memory when they were encoded lately."""
        with self._lock:
            known = {t: self._states[t] for t in texts if t in self._states}
            for t in known:
                self._states.move_to_end(t)
        missing = sorted({t for t in texts if t not in known})
        if missing:
            fresh = dict(zip(missing, self.embedder.token_states(missing), strict=True))
            known |= fresh
            with self._lock:
                self._states.update(fresh)
                while len(self._states) > self._memory:
                    self._states.popitem(last=False)
        return [known[t] for t in texts]

    def embed(self, text: str) -> np.ndarray:
        """The text's MiniLM embedding, as the cache searches with it (and its token
        states kept for the verifier: one forward pass serves both)."""
        return self.states([text])[0].sentence

    def rows(
        self, pairs: Sequence[tuple[str, str]], verdicts: Sequence[GuardVerdict] | None = None
    ) -> np.ndarray:
        """The feature matrix of many pairs (``verdicts``: the guard's, if known)."""
        texts = sorted({t for pair in pairs for t in pair})
        states = dict(zip(texts, self.states(texts), strict=True))
        found = verdicts if verdicts is not None else [check(a, b) for a, b in pairs]
        rows = [
            pair_features(a, b, states[a], states[b], v)
            for (a, b), v in zip(pairs, found, strict=True)
        ]
        return np.array(rows, dtype=np.float64).reshape(len(pairs), len(FEATURE_NAMES))

    def score(self, query: str, candidates: Sequence[str]) -> list[PairScore]:
        """One :class:`PairScore` per candidate, in order."""
        if not candidates:
            return []
        verdicts = [check(query, c) for c in candidates]
        scores = self.model.score(self.rows([(query, c) for c in candidates], verdicts))
        return [
            PairScore(float(s), tuple(v.reasons)) for s, v in zip(scores, verdicts, strict=True)
        ]

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Scores of many pairs at once (for tuning and reports)."""
        if not pairs:
            return np.zeros(0)
        return self.model.score(self.rows(pairs))
