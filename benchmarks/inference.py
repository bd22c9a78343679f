"""inference: the compute emulator's token generation against bare onnxruntime, per power level, quantised vs fp32.

Three comparisons on the bundled tiny model, all in one process:

1. **Overhead of the emulator's engine path.**  A bare generation loop
   written here directly against ``onnxruntime.InferenceSession`` (greedy,
   KV cache, the session options the engine uses) against
   ``InferenceEngine.start/step`` (greedy) and against
   ``ComputeUnit(fidelity="real")`` ticks at P100 (what the emulator runs:
   governor, thermal, request turnover, temperature sampling).  Same prompt
   (the calibration prompt), the P100 profile's batch and threads, requests
   of ``ComputeUnit.request_tokens`` tokens, the same number of tokens;
   ``ROUNDS`` alternating rounds, median of each.
2. **Calibration vs reality, per level.**  ``calibrate`` (fresh, in a
   temporary cache dir) predicts tokens/s per level; the benchmark then
   really runs the engine the way the unit does at that level (batch, threads,
   sampling, requests of 256 tokens) on a wall-paced tick schedule: on the
   level's duty on-ticks it generates until the tick's wall time is used,
   on off-ticks it sleeps.  Measured tokens / wall time against calibrated.
3. **Quantised variants vs fp32.**  One row per bundled variant (``VARIANTS``:
   fp32, dynamic int8, static int8, int4): the engine's tokens/s at P100
   (greedy, the request of part 1, rounds alternating in order), the model's
   size on disk (file plus external weights) and how often its greedy next
   token equals fp32's over the same teacher-forced text.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Sequence

import numpy as np

from _report import Report

NAME = "inference"
DESCRIPTION = ("bare onnxruntime vs emulator token generation, calibrated vs measured per level, "
               "quantised variants vs fp32")

ROUNDS = 5
REQUESTS_PER_ROUND = 6
LEVEL_RUN_S = 2.0            # wall seconds per level per repeat
LEVEL_REPEATS = 3
TICK_S = 0.1                 # the emulator's tick (hilbench.dut.emulator.TICK_S)
INT8_ROUNDS = 3             # rounds of the per-variant comparison (every variant once per round)
AGREEMENT_POSITIONS = 200

# The per-variant table: figure prefix, bundled file, label.  fp32 is the reference the others follow.
VARIANTS = (
    ("fp32", "tiny-llm.onnx", "fp32"),
    ("int8", "tiny-llm-int8.onnx", "int8 dynamic"),
    ("int8_static", "tiny-llm-int8-static.onnx", "int8 static (QDQ)"),
    ("int4", "tiny-llm-int4.onnx", "int4 (MatMulNBits)"),
)

TARGET_RATIO = 0.95
TARGET_LEVEL_ERROR_PCT = 10.0

# Teacher-forced text for the variants' agreement with fp32 (the model's vocabulary is bytes).
TEXT = (
    b"A parked or charging EV whose on-board computer runs AI inference for someone else "
    b"must obey the battery and the car: never drain the pack below what the driver needs, "
    b"never cook itself or the cells, never run while driving, and stop cleanly when a plug is pulled."
)


# -- the bare loop ----------------------------------------------------------------

class BareGenerator:
    """Greedy generation with a KV cache, straight on an onnxruntime session."""

    def __init__(self, model_path: str, threads: int) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(model_path, sess_options=opts, providers=["CPUExecutionProvider"])
        inputs = {i.name: i for i in self.session.get_inputs()}
        self.past_names = sorted((n for n in inputs if n.startswith("past_key_values.")),
                                 key=lambda n: (int(n.split(".")[1]), n.endswith(".value")))
        kv = inputs[self.past_names[0]].shape
        self.heads, self.head_dim = int(kv[1]), int(kv[3])
        outputs = [o.name for o in self.session.get_outputs()]
        self.present_names = [n.replace("past_key_values.", "present.") for n in self.past_names]
        self.output_names = ["logits", *self.present_names]
        assert all(n in outputs for n in self.output_names)

    def generate(self, prompt: Sequence[int], batch: int, new_tokens: int, rng: np.random.Generator | None = None
                 ) -> int:
        """``new_tokens`` tokens for ``batch`` copies of ``prompt``; returns tokens made.

        Greedy, or with ``rng`` sampled at temperature 1 by the Gumbel-max trick
        (the cheapest exact sampler, so the baseline is a strong one).
        """
        if rng is None:
            def choose(logits: np.ndarray) -> np.ndarray:
                return logits.argmax(-1)
        else:
            # All the request's noise drawn at once, as the fastest sampler would.
            vocab = self.session.get_outputs()[0].shape[-1]
            noise = iter(np.log(rng.exponential(size=(new_tokens, batch, int(vocab))).astype(np.float32)))

            def choose(logits: np.ndarray) -> np.ndarray:
                return (logits - next(noise)).argmax(-1)
        run = self.session.run
        names = self.output_names
        past_names = self.past_names
        width = len(prompt)
        ids = np.tile(np.asarray(prompt, np.int64), (batch, 1))
        mask = np.ones((batch, width), np.int64)
        pos = np.tile(np.arange(width, dtype=np.int64), (batch, 1))
        empty = np.zeros((batch, self.heads, 0, self.head_dim), np.float32)
        feed = {"input_ids": ids, "attention_mask": mask, "position_ids": pos}
        feed.update({n: empty for n in past_names})
        out = run(names, feed)
        token = choose(out[0][:, -1, :])
        made = batch
        position = width
        for _ in range(new_tokens - 1):
            mask = np.ones((batch, position + 1), np.int64)
            feed = {"input_ids": token[:, None], "attention_mask": mask,
                    "position_ids": np.full((batch, 1), position, np.int64)}
            feed.update(zip(past_names, out[1:]))
            out = run(names, feed)
            token = choose(out[0][:, -1, :])
            position += 1
            made += batch
        return made


# -- helpers ------------------------------------------------------------------------

def _timed(fn: Callable[[], int]) -> float:
    """tokens/s of one call of ``fn`` (which returns the tokens it made)."""
    t0 = time.perf_counter()
    tokens = fn()
    return tokens / (time.perf_counter() - t0)


def _engine_path(engine, prompt: list[int], batch: int, threads: int, requests: int, request_tokens: int) -> int:
    made = 0
    for _ in range(requests):
        state = engine.start([prompt] * batch, greedy=True, threads=threads)
        for _ in range(request_tokens):
            made += len(engine.step(state))
    return made


def _unit_path(engine, table, prompt: list[int], batch: int, requests: int, request_tokens: int) -> tuple[int, set]:
    """ComputeUnit(fidelity="real") at P100, fed ticks that owe 16 steps each."""
    from hilbench.dut.compute import ComputeUnit, PerformanceModel, PowerLevel

    steps_per_tick = 16
    rate = steps_per_tick * batch / TICK_S
    perf = PerformanceModel.from_rates({PowerLevel.P100: rate}, table)
    unit = ComputeUnit(perf, table=table, fidelity="real", engine=engine, prompt=prompt,
                       request_tokens=request_tokens, coolant_c=25.0)
    ticks = requests * request_tokens // steps_per_tick
    levels = set()
    for _ in range(ticks):
        levels.add(unit.tick(TICK_S, PowerLevel.P100).level.name)
    return unit.tokens_total, levels


def _paced_level_run(engine, profile, prompt: list[int], request_tokens: int, wall_s: float) -> float:
    """Tokens per wall second running like the unit at one level, duty cycle included."""
    ticks = max(1, round(wall_s / TICK_S))
    state, steps_in_request, made, seed = None, 0, 0, 0
    t_start = time.perf_counter()
    for i in range(ticks):
        deadline = t_start + (i + 1) * TICK_S
        if not profile.duty_on(i):
            delay = deadline - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            continue
        while time.perf_counter() < deadline:
            if state is None or steps_in_request >= request_tokens:
                state = engine.start([prompt] * profile.batch_size, greedy=False, temperature=1.0,
                                     seed=seed, threads=profile.threads)
                seed += profile.batch_size
                steps_in_request = 0
            made += len(engine.step(state))
            steps_in_request += 1
    return made / (time.perf_counter() - t_start)


def _model_mb(path) -> float:
    """Size on disk in MB (10^6 bytes): the ``.onnx`` file and its external weights, if any."""
    from hilbench.dut.compute.engine import external_data_files

    return sum(p.stat().st_size for p in (path, *external_data_files(path))) / 1e6


def _greedy_agreement(fp32, other, text: bytes, positions: int) -> float:
    """Share (%) of the first ``positions`` positions of ``text`` where ``other``'s greedy next token is fp32's."""
    ids = np.asarray([list(text[: positions + 1])], np.int64)
    a, _ = fp32.forward(ids)
    b, _ = other.forward(ids)
    pa = a[0, :positions].argmax(-1)
    pb = b[0, :positions].argmax(-1)
    return float((pa == pb).mean() * 100.0)


# -- the benchmark ----------------------------------------------------------------

def run(quick: bool = False) -> Report:
    from hilbench.dut.compute import (
        BUNDLED_MANIFEST,
        COMPUTE_LEVELS,
        InferenceEngine,
        PowerLevel,
        PowerTable,
        bundled_model,
        calibrate,
    )
    from hilbench.dut.compute.calibration import DEFAULT_PROMPT

    report = Report(NAME)
    rounds = 3 if quick else ROUNDS
    requests = 2 if quick else REQUESTS_PER_ROUND
    level_repeats = 1 if quick else LEVEL_REPEATS
    level_s = 1.0 if quick else LEVEL_RUN_S

    table = PowerTable()
    p100 = table.profile(PowerLevel.P100)
    prompt = list(DEFAULT_PROMPT)
    request_tokens = 256  # ComputeUnit's default request length
    model_path = bundled_model()
    engine = InferenceEngine(model_path, manifest=BUNDLED_MANIFEST, threads=p100.threads)
    bare = BareGenerator(str(model_path), p100.threads)

    # 1. bare vs engine vs unit at P100, alternating rounds (one warm-up each first)
    bare.generate(prompt, p100.batch_size, 8)
    _engine_path(engine, prompt, p100.batch_size, p100.threads, 1, 8)
    bare_rates, bare_sampled_rates, engine_rates, unit_rates = [], [], [], []
    unit_levels: set[str] = set()
    sample_rng = np.random.default_rng(0)

    def bare_round() -> None:
        bare_rates.append(_timed(lambda: sum(bare.generate(prompt, p100.batch_size, request_tokens)
                                             for _ in range(requests))))
        # The emulator samples (temperature 1), so its baseline samples too.
        bare_sampled_rates.append(_timed(lambda: sum(bare.generate(prompt, p100.batch_size, request_tokens,
                                                                   sample_rng) for _ in range(requests))))

    def engine_round() -> None:
        engine_rates.append(_timed(lambda: _engine_path(engine, prompt, p100.batch_size, p100.threads,
                                                        requests, request_tokens)))

    def unit_round() -> None:
        t0 = time.perf_counter()
        tokens, levels = _unit_path(engine, table, prompt, p100.batch_size, requests, request_tokens)
        unit_rates.append(tokens / (time.perf_counter() - t0))
        unit_levels.update(levels)

    for i in range(rounds):  # alternate the order too, so no path always runs first
        order = (bare_round, engine_round, unit_round)
        for fn in (order if i % 2 == 0 else order[::-1]):
            fn()
    bare_tps = statistics.median(bare_rates)
    bare_sampled_tps = statistics.median(bare_sampled_rates)
    engine_tps = statistics.median(engine_rates)
    unit_tps = statistics.median(unit_rates)
    per_round = f"{requests} x {request_tokens} tokens x batch {p100.batch_size}, median of {rounds}"
    report.add("tokens_per_s_bare", bare_tps, "bare onnxruntime loop (greedy)", "{:,.0f}", "tok/s", per_round)
    report.add("tokens_per_s_engine", engine_tps, "InferenceEngine start/step (greedy)", "{:,.0f}", "tok/s")
    report.add("tokens_per_s_emulator", unit_tps, "ComputeUnit real ticks at P100 (sampling)", "{:,.0f}",
               "tok/s", "the emulator's path")
    report.add("tokens_per_s_bare_sampled", bare_sampled_tps, "bare onnxruntime loop (sampling)", "{:,.0f}",
               "tok/s", "same decoding as the emulator")
    report.target("tokens_per_s_ratio", unit_tps / bare_sampled_tps, "emulator / bare, both sampling",
                  TARGET_RATIO, fmt="{:.3f}")
    report.target("tokens_per_s_engine_ratio", engine_tps / bare_tps, "engine / bare", TARGET_RATIO, fmt="{:.3f}")
    if unit_levels != {"P100"}:
        report.note(f"the unit's governor changed the level during the P100 run: {sorted(unit_levels)}")
    report.note("spread bare/engine/emulator tok/s: "
                + " | ".join(", ".join(f"{r:,.0f}" for r in rates) for rates in (bare_rates, engine_rates, unit_rates)))

    # 2. calibrated vs measured per level; a fresh calibration (own temp cache dir) in every
    #    repeat, next to the measurements, so load from elsewhere hits both alike
    calibrated: dict[PowerLevel, list[float]] = {lv: [] for lv in COMPUTE_LEVELS}
    measured: dict[PowerLevel, list[float]] = {lv: [] for lv in COMPUTE_LEVELS}
    calibration_times: list[float] = []
    for _ in range(level_repeats):
        with tempfile.TemporaryDirectory(prefix="hilbench-bench-cal-") as cache_dir:
            t0 = time.perf_counter()
            perf = calibrate(engine, table, cache_dir=cache_dir)
            calibration_times.append(time.perf_counter() - t0)
        for level in COMPUTE_LEVELS:
            calibrated[level].append(perf.rate(level))
            measured[level].append(_paced_level_run(engine, table.profile(level), prompt, request_tokens, level_s))
    calibration_s = statistics.median(calibration_times)
    for level in COMPUTE_LEVELS:
        prof = table.profile(level)
        m = statistics.median(measured[level])
        c = statistics.median(calibrated[level])
        err = (m - c) / c * 100.0 if c else float("nan")
        name = level.name
        report.add(f"level_{name}_calibrated_tok_s", c, f"{name} calibrated", "{:,.0f}", "tok/s",
                   f"batch {prof.batch_size}, threads {prof.threads}, duty {prof.duty:g}; median of "
                   + ", ".join(f"{r:,.0f}" for r in calibrated[level]))
        report.add(f"level_{name}_measured_tok_s", m, f"{name} measured", "{:,.0f}", "tok/s",
                   f"median of {level_repeats} x {level_s:g} s wall: "
                   + ", ".join(f"{r:,.0f}" for r in measured[level]))
        report.within(f"level_{name}_error_pct", err, f"{name} measured vs calibrated", TARGET_LEVEL_ERROR_PCT)
    busy = statistics.median(calibrated[PowerLevel.P100]) / table.profile(PowerLevel.P100).duty
    report.note(f"P100 decomposition: calibration busy {busy:,.0f} tok/s (sampled {request_tokens}-token requests "
                f"with prefill, median) -> engine greedy over {request_tokens}-token requests with prefill "
                f"{engine_tps:,.0f} -> unit with sampling {unit_tps:,.0f} -> paced level run "
                f"{statistics.median(measured[PowerLevel.P100]):,.0f}")
    report.add("calibration_s", calibration_s, "one calibration took", "{:.1f}", "s",
               f"fresh, temp cache dir, median of {len(calibration_times)}")

    # 3. quantised variants vs fp32, every variant once per round, the order reversed every other round
    engines = {key: engine if name == model_path.name else
               InferenceEngine(bundled_model(name), manifest=BUNDLED_MANIFEST, threads=p100.threads)
               for key, name, _ in VARIANTS}
    for eng in engines.values():
        _engine_path(eng, prompt, p100.batch_size, p100.threads, 1, 8)
    rates: dict[str, list[float]] = {key: [] for key in engines}
    keys = list(engines)
    for i in range(INT8_ROUNDS if not quick else 2):
        for key in (keys if i % 2 == 0 else keys[::-1]):
            rates[key].append(_timed(lambda eng=engines[key]: _engine_path(
                eng, prompt, p100.batch_size, p100.threads, requests, request_tokens)))
    fp32_tps = statistics.median(rates["fp32"])
    table_rows = []
    for key, name, label in VARIANTS:
        tps = statistics.median(rates[key])
        mb = _model_mb(engines[key].model_path)
        report.add(f"{key}_tokens_per_s", tps, f"{label} engine at P100 (greedy)", "{:,.0f}", "tok/s",
                   "median of " + ", ".join(f"{r:,.0f}" for r in rates[key]))
        report.add(f"{key}_mb", mb, f"{label} model size", "{:.3f}", "MB", f"{name}, 10^6 bytes")
        if key == "fp32":
            table_rows.append(f"{key} {tps:,.0f} tok/s {mb:.3f} MB (reference)")
            continue
        report.add(f"{key}_speedup", tps / fp32_tps, f"{label} / fp32 speed", "{:.3f}", "x")
        agreement = _greedy_agreement(engine, engines[key], TEXT, AGREEMENT_POSITIONS)
        report.add(f"{key}_greedy_agreement_pct", agreement, f"{label} greedy next token = fp32's", "{:.1f}", "%",
                   f"{AGREEMENT_POSITIONS} teacher-forced positions")
        table_rows.append(f"{key} {tps:,.0f} tok/s {mb:.3f} MB {agreement:.1f} % agreement")
    report.note("per variant (tok/s at P100 greedy, size, greedy agreement with fp32): " + " | ".join(table_rows))
    return report

