"""What a fitted model is made of and how it scores: the Keras network builders and the table
of network kinds (`networks`), the blended linear model (`blend`), text to scores
(`inference`), scores to topics (`thresholds`) and why a document got a topic (`explain`).

How a model is fitted is `topicclf.training`; how it is stored, `topicclf.bundle`.
"""
