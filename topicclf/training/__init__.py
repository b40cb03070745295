"""How a model is fitted: the pipeline of named steps (`pipeline`), the Keras network's own
training (`network`) and the records the steps hand each other (`data`).

What a fitted model is made of lives in `topicclf.model`; how it is saved, `topicclf.bundle`.
"""

from topicclf.training.pipeline import Fitted, fit_model, retune

__all__ = ["Fitted", "fit_model", "retune"]
