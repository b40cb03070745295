"""scikit-learn's estimator protocol without importing scikit-learn.

Loading a model to tag (`topicclf tag`, a worker, the web service) must not pay the seconds
scikit-learn's import takes, so TopicClassifier's base class and its not-fitted error live
here and reach for scikit-learn only when scikit-learn itself asks (tags) or the error is
first raised.
"""

from __future__ import annotations

import inspect
from typing import Any

from topicclf.errors import NotFittedError

_NOT_FITTED: type[NotFittedError] | None = None


def not_fitted_error() -> type[NotFittedError]:
    """TopicClassifierNotFittedError, defined on first use (it subclasses scikit-learn's
    NotFittedError); `topicclf.classifier` exports it under that name."""
    global _NOT_FITTED
    if _NOT_FITTED is None:
        from sklearn.exceptions import NotFittedError as SklearnNotFittedError

        class TopicClassifierNotFittedError(NotFittedError, SklearnNotFittedError):  # type: ignore[misc]
            """Used before fit (or load): both topicclf's and scikit-learn's not-fitted error."""

        # Named as users import it, so that it pickles (multiprocessing, Dask) by reference.
        TopicClassifierNotFittedError.__module__ = "topicclf.classifier"
        TopicClassifierNotFittedError.__qualname__ = "TopicClassifierNotFittedError"
        _NOT_FITTED = TopicClassifierNotFittedError
    return _NOT_FITTED


class Estimator:
    """What scikit-learn asks of an estimator (parameters by name, clone, tags, repr),
    written here rather than inherited from `sklearn.base.BaseEstimator` (see above)."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        params = inspect.signature(cls.__init__).parameters.values()
        return sorted(p.name for p in params if p.name != "self" and p.kind == p.KEYWORD_ONLY)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The keyword arguments this estimator was made with (scikit-learn's API)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> Any:
        """Change keyword arguments by name (scikit-learn's API); returns the estimator."""
        valid = self._get_param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"Invalid parameter {key!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {valid!r}."
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        defaults = inspect.signature(type(self).__init__).parameters
        given = [
            f"{name}={value!r}"
            for name, value in self.get_params(deep=False).items()
            if value is not defaults[name].default
        ]
        return f"{type(self).__name__}({', '.join(given)})"

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's default tags for an estimator (subclasses refine them)."""
        from sklearn.utils import Tags, TargetTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            transformer_tags=None,
            regressor_tags=None,
            classifier_tags=None,
        )
