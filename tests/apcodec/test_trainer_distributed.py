"""Two-process CPU (gloo) DistributedDataParallel run of the CLI, as torchrun would launch it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from codecbench.training.state import list_states, load_state


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_process_gloo_run(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for i in range(4):
        t = np.arange(2000) / 48000
        sf.write(data / f"t{i}.wav", (0.2 * np.sin(2 * np.pi * (200 + 50 * i) * t)).astype(np.float32), 48000)
    config = tmp_path / "exp.yaml"
    config.write_text(
        "base: tiny\n"
        "train: {batch_size: 1, segment_size: 1240, log_interval: 1, checkpoint_interval: 0, validation_interval: 0,\n"
        "        tensorboard: false, device: cpu, valid_holdout: 0,\n"
        "        extra: {discriminator: {mpd_channels: [4, 8, 16, 16, 16], mrd_channels: 4}}}\n")
    out = tmp_path / "run"
    port = free_port()
    procs = []
    for rank in range(2):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=str(port), OMP_NUM_THREADS="1")
        cmd = [sys.executable, "-m", "apcodec.train", "--config", str(config), "--data", str(data),
               "--out", str(out), "--steps", "2"]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = []
    for proc in procs:
        try:
            outputs.append(proc.communicate(timeout=240)[0])
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            pytest.fail("distributed run timed out")
    for proc, text in zip(procs, outputs):
        assert proc.returncode == 0, text[-2000:]
    states = list_states(out / "checkpoints")
    assert [s for s, _ in states] == [2]  # written once, by rank 0
    state = load_state(states[0][1])
    assert state["epoch"] == 1  # 4 files / (1 per rank x 2 ranks) = 2 batches per epoch
    rows = (out / "metrics.csv").read_text().splitlines()
    assert any(r.startswith("2,") and ",train,g_total," in r for r in rows)
