"""topicclf: learn to tag documents with topics (multi-label or multi-class).

Importing the package is cheap: TensorFlow loads only when a network is built, trained or
loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Config", "Document", "TopicClassifier", "__version__", "load_config", "open_corpus"]

if TYPE_CHECKING:
    from topicclf.classifier import TopicClassifier
    from topicclf.config import Config, load_config
    from topicclf.corpus import open_corpus
    from topicclf.types import Document

_LAZY = {
    "TopicClassifier": "topicclf.classifier",
    "Config": "topicclf.config",
    "load_config": "topicclf.config",
    "open_corpus": "topicclf.corpus",
    "Document": "topicclf.types",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'topicclf' has no attribute {name!r}")
