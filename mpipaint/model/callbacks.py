"""Keras callbacks of `mpipaint train` (TensorFlow at import: train.py loads this module only when it trains,
so importing the train module stays light): Horovod-aware learning-rate warm-up, metric and batch-norm averaging
over ranks, the validation schedule (best weights, learning-rate halving, early stopping) and checkpoints."""
from __future__ import annotations

import json
import os
from pathlib import Path

from mpipaint import faults
from mpipaint.parallel import stopping
from mpipaint.io.outputs import make_parent
from mpipaint.model.bundle import read_weight_arrays, write_weight_arrays
from mpipaint.model.keras_env import keras
from mpipaint.model.training import CHECKPOINT_SUFFIX

BEST_WEIGHTS_FILE = "best_weights.npz"  # checkpoint: weights of the best validation epoch so far
LR_HALVINGS = 5  # the learning rate's floor is 1/32 of the initial one; early stopping counts only there


class LinearWarmup(keras().callbacks.Callback):
    """Learning rate from lr/N to lr (N ranks) linearly over the first epochs, per batch (Goyal et al. 2017).
    Horovod's own warm-up callback calls Keras 3's backend, which tf-keras models cannot use."""

    # it reads no logs: Keras need not wait for each step's loss to hand it numbers (a demo net's epochs ran
    # 30 and 26 s against 31 and 34 s without, alternating runs, the same weights)
    _supports_tf_logs = True

    def __init__(self, lr, ranks, warmup_epochs, steps_per_epoch):
        super().__init__()
        self.lr, self.ranks = lr, ranks
        self.warmup_steps, self.steps_per_epoch = warmup_epochs * steps_per_epoch, steps_per_epoch
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        step = self.epoch * self.steps_per_epoch + batch
        if step <= self.warmup_steps:
            fraction = step / self.warmup_steps if self.warmup_steps else 1.0
            self.model.optimizer.learning_rate.assign(self.lr / self.ranks * (1 + fraction * (self.ranks - 1)))


class AverageMetrics(keras().callbacks.Callback):
    """Epoch losses averaged over ranks before they are logged (Horovod's callback needs Keras 3's backend)."""

    def __init__(self, hvd_tf, tf):
        super().__init__()
        self.hvd_tf, self.tf = hvd_tf, tf

    def on_epoch_end(self, epoch, logs=None):
        keys = sorted(logs or {})
        if keys:  # one collective for all: each costs a Horovod cycle
            values = self.tf.constant([float(logs[key]) for key in keys], dtype=self.tf.float64)
            averaged = self.hvd_tf.allreduce(values, op=self.hvd_tf.Average, name="epoch_metrics").numpy()
            logs.update({key: float(value) for key, value in zip(keys, averaged)})


class AverageBatchNormStatistics(keras().callbacks.Callback):
    """Average non-trainable variables (batch-norm moving mean/variance) over ranks at every epoch end:
    Horovod averages gradients only, and each rank's statistics come from its own shard."""

    def __init__(self, hvd_tf):
        super().__init__()
        self.hvd_tf = hvd_tf

    def on_epoch_end(self, epoch, logs=None):
        # one grouped collective: one per variable took 57 ms per epoch of a demo net (28 variables)
        variables = self.model.non_trainable_variables
        averaged = self.hvd_tf.grouped_allreduce([v.value() for v in variables], op=self.hvd_tf.Average,
                                                 name="batch_norm_statistics")
        for variable, value in zip(variables, averaged):
            variable.assign(value)


class ValidationSchedule(keras().callbacks.Callback):
    """Every rank, after the metrics are averaged: keep the weights of the best monitored loss, halve the
    learning rate after `lr_patience` epochs without improvement (past the warm-up, at most LR_HALVINGS
    times), stop after `patience` epochs without improvement at that floor. All ranks see the same averaged
    loss, so they take the same decisions."""

    def __init__(self, monitor: str, options, state: dict, checkpoint_dir: Path, shapes):
        super().__init__()
        self.monitor, self.options, self.state = monitor, options, dict(state["schedule"])
        best = checkpoint_dir / BEST_WEIGHTS_FILE
        self.best_weights = None
        if state["epoch"] > 0 and best.exists():
            self.best_weights = read_weight_arrays(best, shapes)

    def on_epoch_end(self, epoch, logs=None):
        value, s = float(logs[self.monitor]), self.state
        if value < s["best"]:
            s.update(best=value, best_epoch=epoch + 1, wait=0, lr_wait=0)
            self.best_weights = self.model.get_weights()
        else:
            s["wait"], s["lr_wait"] = s["wait"] + 1, s["lr_wait"] + 1
            at_floor = s["halvings"] >= LR_HALVINGS
            if (not at_floor and s["lr_wait"] >= self.options.lr_patience
                    and epoch + 1 > self.options.warmup_epochs):
                lr = self.model.optimizer.learning_rate
                lr.assign(lr * 0.5)
                s.update(lr_wait=0, wait=0, halvings=s["halvings"] + 1)
            if at_floor and self.options.patience and s["wait"] >= self.options.patience:
                s["stopped"] = True
                self.model.stop_training = True
        logs["lr"] = float(self.model.optimizer.learning_rate.numpy())


def checkpoint_variables(model) -> list:
    """What a checkpoint holds, in a fixed order: the model's weights (batch-norm statistics among them), then
    the optimizer's variables (step count, moments). The learning rate goes in the state file."""
    return [*model.weights, *model.optimizer.variables]


def restore_checkpoint(model, file: Path, learning_rate: float) -> None:
    """Weights and optimizer state from a checkpoint file: plain arrays (no pickles), each checked against the
    shape and dtype of the variable it lands in (InputError naming the file otherwise)."""
    variables = checkpoint_variables(model)
    arrays = read_weight_arrays(file, [v.shape for v in variables], [v.dtype.as_numpy_dtype for v in variables])
    for variable, array in zip(variables, arrays):
        variable.assign(array)
    model.optimizer.learning_rate.assign(learning_rate)


class Checkpoint(keras().callbacks.Callback):
    """Rank 0, after every epoch: weights and optimizer state as plain arrays in a new file (a TensorFlow
    checkpoint took 0.1-0.17 s per epoch of a demo net to serialise its object graph, against 0.04 s), the best
    weights (replaced atomically), then the state (schedule, loss history, learning rate and the file's name),
    replaced atomically; only then are older files removed, so the state always names a complete checkpoint."""

    def __init__(self, directory: Path, state: dict, schedule: ValidationSchedule, log):
        super().__init__()
        self.directory, self.history, self.log = directory, dict(state["history"]), log
        self.identity, self.schedule = state["identity"], schedule
        make_parent(directory / "state.json")

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        name = f"epoch-{epoch + 1}{CHECKPOINT_SUFFIX}"
        write_weight_arrays(self.directory / name, [v.numpy() for v in checkpoint_variables(self.model)])
        if self.schedule.state["best_epoch"] == epoch + 1:
            write_weight_arrays(self.directory / BEST_WEIGHTS_FILE, self.schedule.best_weights)
        partial = self.directory / "state.partial.json"
        learning_rate = float(self.model.optimizer.learning_rate.numpy())
        partial.write_text(json.dumps({"epoch": epoch + 1, "checkpoint": name, "learning_rate": learning_rate,
                                       "history": self.history, "identity": self.identity,
                                       "schedule": self.schedule.state}))
        os.replace(partial, self.directory / "state.json")
        for old in self.directory.glob("epoch-*"):
            if old.name != name:
                old.unlink()
        self.log.info("epoch %d: %s", epoch + 1, ", ".join(f"{k} {v:.5g}" for k, v in (logs or {}).items()))
        faults.reached("epochs-checkpointed", epoch + 1)


class StopOnSignal(keras().callbacks.Callback):
    """Every rank, after the epoch's checkpoint: end training at this epoch's end where any rank received a
    stop signal (`parallel.stopping`: SLURM's SIGTERM at preemption, SIGUSR1 before the time limit), so the
    job exits resumably instead of being killed in the middle of an epoch."""

    def __init__(self, hvd_tf, tf):
        super().__init__()
        self.hvd_tf, self.tf, self.stopped_after = hvd_tf, tf, None

    def on_epoch_end(self, epoch, logs=None):
        flag = self.tf.constant(1.0 if stopping.requested() else 0.0, dtype=self.tf.float64)
        if float(self.hvd_tf.allreduce(flag, op=self.hvd_tf.Sum, name="stop_requested").numpy()) > 0:
            self.stopped_after = epoch + 1
            self.model.stop_training = True
