"""Misbehaving adapters used by the harness tests (loaded as ``adapters_for_tests:Class``)."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any, Optional

import numpy as np

from codecbench.codecs.base import Codec, Payload
from codecbench.metrics.base import Metric, MetricInfo, ModelWeights


class _Base(Codec):
    name = "test"
    sample_rates = (16000,)
    has_payload = True

    def __init__(self, bitrate: Optional[float] = None, device: str = "cpu") -> None:
        super().__init__(bitrate, device)
        self.sample_rate = 16000

    def identity(self) -> dict[str, Any]:
        """Each test class (and its options) is its own codec: no shared cache entries."""
        options = {k: v for k, v in vars(self).items() if k not in ("bitrate", "device", "sample_rate")}
        return {**super().identity(), "class": type(self).__name__, "options": options}

    def encode(self, audio: np.ndarray, item: Optional[Any] = None) -> Payload:
        return Payload(data=(audio * 32767).astype("<i2").tobytes(), num_samples=audio.shape[1],
                       side={"channels": audio.shape[0]})

    def decode(self, payload: Payload) -> np.ndarray:
        assert payload.data is not None
        pcm = np.frombuffer(payload.data, dtype="<i2").astype(np.float32) / 32767
        return pcm.reshape(payload.side["channels"], -1)


class Pcm16(_Base):
    """Lossless 16-bit PCM at 16 kHz: 256 kbps measured."""


class Raises(_Base):
    def encode(self, audio: np.ndarray, item: Optional[Any] = None) -> Payload:
        raise RuntimeError("encoder exploded")


class ReturnsNaN(_Base):
    def decode(self, payload: Payload) -> np.ndarray:
        out = super().decode(payload)
        out[0, 5] = np.nan
        return out


class ReturnsInf(_Base):
    def decode(self, payload: Payload) -> np.ndarray:
        out = super().decode(payload)
        out[0, -1] = np.inf
        return out


class WrongLength(_Base):
    def decode(self, payload: Payload) -> np.ndarray:
        return super().decode(payload)[:, : payload.num_samples // 2]


class Slow(_Base):
    """Sleeps per item so a test can kill the run midway; counts its calls in a file."""

    def encode(self, audio: np.ndarray, item: Optional[Any] = None) -> Payload:
        time.sleep(float(os.environ.get("CODECBENCH_TEST_SLEEP", "0.3")))
        counter = os.environ.get("CODECBENCH_TEST_COUNTER")
        if counter:
            with open(counter, "a") as handle:
                handle.write(f"{item.id if item is not None else '?'}\n")
        return super().encode(audio, item)


def _note_call(item: Optional[Any]) -> None:
    """Append the item id to ``$CODECBENCH_TEST_COUNTER`` (shared by every worker process)."""
    counter = os.environ.get("CODECBENCH_TEST_COUNTER")
    if counter:
        with open(counter, "a") as handle:
            handle.write(f"{item.id if item is not None else '?'}\n")


class _CrashesOn(_Base):
    """Misbehaves in ``encode`` for the item whose id is ``crash_on`` ("*": every item)."""

    def __init__(self, bitrate: Optional[float] = None, device: str = "cpu", crash_on: str = "*") -> None:
        super().__init__(bitrate, device)
        self.crash_on = crash_on

    def encode(self, audio: np.ndarray, item: Optional[Any] = None) -> Payload:
        _note_call(item)
        if self.crash_on == "*" or (item is not None and item.id == self.crash_on):
            self.misbehave()
        return super().encode(audio, item)

    def misbehave(self) -> None:
        raise NotImplementedError


class Segfault(_CrashesOn):
    """Dies of SIGSEGV, as a broken native extension would."""

    def misbehave(self) -> None:
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(10)  # the signal is asynchronous; never return normally


class SysExit(_CrashesOn):
    """Calls ``sys.exit(3)`` (SystemExit is not an Exception)."""

    def misbehave(self) -> None:
        sys.exit(3)


class OsExit(_CrashesOn):
    """Calls ``os._exit(0)``: the process vanishes with a *success* status."""

    def misbehave(self) -> None:
        os._exit(0)


class Hang(_CrashesOn):
    """Never returns (a deadlocked decoder)."""

    def misbehave(self) -> None:
        time.sleep(3600)


class Int16Output(_Base):
    """Returns integer PCM instead of float samples."""

    def decode(self, payload: Payload) -> np.ndarray:
        assert payload.data is not None
        return np.frombuffer(payload.data, dtype="<i2").reshape(payload.side["channels"], -1).copy()


class Scaled1000(_Base):
    """Returns float samples 1000 times too loud (int16 values divided by the wrong constant)."""

    def decode(self, payload: Payload) -> np.ndarray:
        return super().decode(payload) * 1000.0


class WrongChannels(_Base):
    """Returns one more channel than it was given."""

    def decode(self, payload: Payload) -> np.ndarray:
        out = super().decode(payload)
        return np.concatenate([out, out[:1]], axis=0)


class DoubleRate(_Base):
    """Lossless audio, but its payload is exactly twice the declared bitrate (measured != declared)."""

    def encode(self, audio: np.ndarray, item: Optional[Any] = None) -> Payload:
        assert self.bitrate is not None, "DoubleRate needs a declared bitrate"
        seconds = audio.shape[1] / self.sample_rate
        size = int(round(2 * self.bitrate * 1000 * seconds / 8))
        return Payload(data=bytes(size), num_samples=audio.shape[1],
                       side={"channels": audio.shape[0], "audio": audio.copy()})

    def decode(self, payload: Payload) -> np.ndarray:
        return payload.side["audio"]


class _FakeModelMetric(Metric):
    """A metric with "model weights", loaded on first use like the real ones: loading appends
    ``pid:name:+`` to ``$CODECBENCH_TEST_MODEL_LOG`` and dropping a loaded instance ``pid:name:-``
    (so tests can tell which models a process held at once)."""

    info = MetricInfo(sample_rate=None, higher_is_better=False, description="test metric with a fake model",
                      weights=(ModelWeights("fake model", "the test suite", "MIT"),))

    def __init__(self) -> None:
        self._loaded = False

    def __del__(self) -> None:
        if self._loaded:
            self._log("-")

    def _log(self, sign: str) -> None:
        log = os.environ.get("CODECBENCH_TEST_MODEL_LOG")
        if log:
            with open(log, "a") as handle:
                handle.write(f"{os.getpid()}:{self.name}:{sign}\n")

    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        if not self._loaded:
            self._loaded = True
            self._log("+")
        scale = 1.0 if self.name == "model_a" else 2.0
        return scale * float(np.mean(np.abs(reference.astype(np.float64) - degraded)))


class ModelA(_FakeModelMetric):
    name = "model_a"


class ModelB(_FakeModelMetric):
    name = "model_b"


class CountingMetric(Metric):
    """Mean absolute difference; every call appends ``pid:length`` to ``$CODECBENCH_TEST_METRIC_COUNTER``.

    Pool workers warm every metric up once on a 1.5 s synthetic pair (24000 samples at 16 kHz);
    tests tell those calls apart by the length.
    """

    name = "counting"
    info = MetricInfo(sample_rate=None, higher_is_better=False, description="test metric that counts its calls")

    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        counter = os.environ.get("CODECBENCH_TEST_METRIC_COUNTER")
        if counter:
            with open(counter, "a") as handle:
                handle.write(f"{os.getpid()}:{reference.shape[-1]}\n")
        return float(np.mean(np.abs(reference.astype(np.float64) - degraded)))


class KillsWorker(Metric):
    """SIGKILLs its own metric worker when the pair lasts ``seconds`` (as an OOM kill would).

    With ``once`` it does so only while ``$CODECBENCH_TEST_KILL_MARKER`` is absent (and creates
    it), so a retry succeeds; otherwise every attempt on that pair dies.
    """

    name = "kills_worker"
    info = MetricInfo(sample_rate=None, higher_is_better=True, description="test metric that kills its worker")

    def __init__(self, seconds: float = 0.0, once: bool = True) -> None:
        self.seconds, self.once = seconds, once

    def options(self) -> dict:
        return {"seconds": self.seconds, "once": self.once}

    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        marker = os.environ.get("CODECBENCH_TEST_KILL_MARKER", "")
        if abs(reference.shape[-1] / sample_rate - self.seconds) < 0.02:
            if not self.once or (marker and not os.path.exists(marker)):
                if marker:
                    with open(marker, "a") as handle:
                        handle.write(f"{os.getpid()}\n")
                os.kill(os.getpid(), signal.SIGKILL)
        return float(np.max(np.abs(degraded)))


class FailsUntilHealed(_CrashesOn):
    """Raises (an ordinary failed row) for ``crash_on`` until ``$CODECBENCH_TEST_HEAL`` names an existing file."""

    def misbehave(self) -> None:
        heal = os.environ.get("CODECBENCH_TEST_HEAL", "")
        if not (heal and os.path.exists(heal)):
            raise RuntimeError("transient failure")


class Delayed(_Base):
    """Lossless but delayed by ``delay`` samples (zeros in front, tail cut): a lag beyond the search bound."""

    def __init__(self, bitrate: Optional[float] = None, device: str = "cpu", delay: int = 1600) -> None:
        super().__init__(bitrate, device)
        self.delay = delay

    def decode(self, payload: Payload) -> np.ndarray:
        out = super().decode(payload)
        shifted = np.zeros_like(out)
        shifted[:, self.delay:] = out[:, : out.shape[1] - self.delay]
        return shifted


class SharesReference(CountingMetric):
    """CountingMetric with a prepared reference: logs ``prepare pid:length`` / ``score pid:length``."""

    name = "shares_reference"
    shares_reference = True

    def _log(self, what: str, length: int) -> None:
        counter = os.environ.get("CODECBENCH_TEST_METRIC_COUNTER")
        if counter:
            with open(counter, "a") as handle:
                handle.write(f"{what} {os.getpid()}:{length}\n")

    def prepare_reference(self, reference: np.ndarray, sample_rate: int) -> Any:
        self._log("prepare", reference.shape[-1])
        return reference

    def compute_prepared(self, state: Any, degraded: np.ndarray, sample_rate: int) -> float:
        self._log("score", state.shape[-1])
        return float(np.mean(np.abs(state.astype(np.float64) - degraded)))


class CodesById(_Base):
    """A code-array codec with a known code distribution (the codebook tests).

    Frames of ``hop`` samples; codebook 0 (16 entries, 4 bits) sends code ``i`` in every frame of
    utterance ``u<i>``, codebook 1 alternates codes 0 and 1. Decoding returns the input (kept in
    ``side``, which is not counted as payload).
    """

    hop = 250

    def encode(self, audio: np.ndarray, item: Optional[Any] = None) -> Payload:
        frames = -(-audio.shape[1] // self.hop)
        index = int(item.id.lstrip("u")) if item is not None else 0
        codes = np.stack([np.full(frames, index), np.arange(frames) % 2]).astype(np.int32)
        return Payload.from_codes(codes, 16, audio.shape[1], audio=audio.copy())

    def decode(self, payload: Payload) -> np.ndarray:
        return np.asarray(payload.side["audio"], dtype=np.float32)


class SignalsPreemption(_Base):
    """Sends Slurm's preemption signal (SIGUSR2) to its own codec worker before coding each item."""

    def encode(self, audio: np.ndarray, item: Optional[Any] = None) -> Payload:
        os.kill(os.getpid(), signal.SIGUSR2)
        return super().encode(audio, item)


class SignalsPreemptionMetric(Metric):
    """Sends SIGUSR2 to its own process (the metric worker) on every pair, then scores it."""

    name = "signals_preemption"
    info = MetricInfo(sample_rate=None, higher_is_better=True, description="test metric that gets SIGUSR2")

    def compute(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        os.kill(os.getpid(), signal.SIGUSR2)
        return float(np.max(np.abs(degraded)))
