"""What each reported figure means, and the conventions they share, for the report glossary."""

from __future__ import annotations

CONVENTIONS_TEXT = (
    "Every figure scikit-learn also computes equals scikit-learn's on the same matrices. "
    "A precision, recall or F1 with an empty denominator counts 0 (zero_division=0). "
    "Topics of the evaluation corpus that the model does not know count as misses in every "
    "figure: they are true topics that are never predicted and are scored -1.0, below every "
    "score a model gives, so they rank after all of its topics."
)

GLOSSARY: dict[str, str] = {
    "micro": "every topic's counts pooled: P = tp/(tp+fp), R = tp/(tp+fn), F1 = 2tp/(2tp+fp+fn)",
    "macro": "the mean of the per-topic figures over every topic, model and unknown, a topic "
    "with neither true nor predicted documents counting 0 (scikit-learn's average='macro')",
    "macro_seen": "our own: the mean of the per-topic figures over the topics that occur in "
    "the truth or in the predictions, so that model topics this corpus lacks do not count",
    "weighted": "the per-topic figures weighted by support (scikit-learn's average='weighted')",
    "samples": "each document's figures, averaged over documents (average='samples')",
    "subset_accuracy": "the share of documents whose predicted topics are exactly the true ones",
    "hamming_loss": "the share of wrong (document, topic) decisions; lower is better",
    "precision@k": "true topics among a document's k best-scored ones, over min(k, topics), "
    "averaged over documents (0 for a document without a true topic). Tied scores share the "
    "places left among them: the mean over every order of the tied topics, the rule of "
    "scikit-learn's ndcg_score, so precision@1 equals ndcg@1",
    "recall@k": "true topics among the k best-scored over the document's true topics, ties "
    "shared as in precision@k (0 for a document without a true topic)",
    "f1@5": "each document's F1 of its 5 best-scored topics against its true ones (2 hits / "
    "(5 + true topics), ties shared as in precision@k), averaged over documents: the figure "
    "subject indexing tools such as Annif are compared by",
    "micro_f1": "the micro-averaged F1 of the model's own decisions (its thresholds), as in the "
    "averages table",
    "ndcg@k": "scikit-learn's ndcg_score(k=k), ties averaged (0 for a document without a true "
    "topic)",
    "lrap": "label ranking average precision, scikit-learn's (1 for a document without a true "
    "topic)",
    "coverage_error": "how far down the ranking one must go to cover every true topic, "
    "scikit-learn's (0 for a document without a true topic); lower is better",
    "label_ranking_loss": "the share of (true, false) topic pairs ranked the wrong way round, "
    "scikit-learn's; lower is better",
    "micro_average_precision": "average precision over every (document, topic) score pooled",
    "macro_average_precision": "the mean of per-topic average precision over every topic, a "
    "topic without true documents counting 0 (scikit-learn's average='macro')",
    "macro_average_precision_supported": "our own: the same mean over the topics that have "
    "true documents in this corpus",
    "accuracy": "multi-class models: the share of documents whose one predicted topic is their "
    "true topic; a document whose topic the model does not know, or that has no topic, counts "
    "as wrong",
}
