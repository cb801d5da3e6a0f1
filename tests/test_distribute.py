"""--strategy=multi_worker for real: two worker processes on 127.0.0.1 train the HAN demo together."""

import json
import os
import re
import socket
import subprocess
import sys

from conftest import REPO
from zoo import data

RECIPE = str(REPO / "recipes" / "train_han.py")
DEMO_FLAGS = str(REPO / "recipes" / "configs" / "han_demo.flags")


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_stay_in_sync_and_only_the_chief_writes(tmp_path):
    # The data is there before the workers start, as on a cluster (they would race to write the demo set).
    data.load_documents("demo", str(tmp_path / "data"))
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    workers = []
    for index in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        workers.append(subprocess.Popen(
            [sys.executable, RECIPE, f"--flagfile={DEMO_FLAGS}", "--strategy=multi_worker", "--epochs=1",
             "--steps_per_epoch=4", "--notflite", f"--data_dir={tmp_path / 'data'}", f"--model_dir={tmp_path / 'run'}",
             f"--export_dir={tmp_path / 'savedmodels'}"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        outputs = [worker.communicate(timeout=300) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    for worker, (stdout, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr[-3000:]
        assert "multi_worker: 2 replicas in sync" in stderr
    fingerprints = [re.search(r"Optimizer steps: (\d+), weights fingerprint: (\w+)", stderr).groups()
                    for _, stderr in outputs]
    assert fingerprints[0] == fingerprints[1]  # the same weights after the same number of steps
    assert fingerprints[0][0] == "4"
    # Worker 0 is the chief: it alone checkpoints, logs and exports.
    assert "exported:" in outputs[0][0] and "exported:" not in outputs[1][0]
    assert sorted(os.listdir(tmp_path / "savedmodels")) == ["1"]
    assert "latest.weights.h5" in os.listdir(tmp_path / "run" / "checkpoints")
    assert not [name for name in os.listdir(tmp_path / "run") if "worker" in name]
