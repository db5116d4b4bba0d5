"""Training: recipes -> training data -> loss phases -> a fine-tuned model folder; the fine-tune loop.

In: a recipe (``trainers/*.yaml``), the tasks' training splits or the user's own pairs.
Out: ``models/<name>/``, a sentence-transformers folder with its recipe's prompts, a model card
and ``medbench.json`` (recipe, data hashes, base model, metrics, revision).
Next: :mod:`medbench.evaluate` scores it; :mod:`medbench.train.loop` compares it with its base.
Everything here needs the ``[train]`` extra (accelerate, datasets).

Rooms:
    recipe.py     the recipe's pydantic schema (file:line messages), ``--set`` overrides, finding shipped recipes
    losses.py     the loss registry: one class per loss (arguments, data layouts, the sentence-transformers loss)
    data.py       training pairs from tasks or files, dev splits, the leakage check against evaluation texts
    leakage.py    exact and near-duplicate overlap between training and evaluation texts
    evaluators.py what training watches: a dev split or an evaluation task
    steps.py      one phase: loss, arguments, sentence-transformers' trainer, checkpoints
    trainer.py    all phases in order, resume, the saved folder and its model card
    loop.py       base -> train -> fine-tuned, with deltas
"""

from medbench.train.trainer import TrainResult, prepare, train

__all__ = ["TrainResult", "prepare", "train"]
