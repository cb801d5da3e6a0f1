"""tf.distribute strategies by name, for the recipes' `--strategy` flag."""

import tensorflow as tf
from keras.src import tree
from keras.src.backend.tensorflow import trainer as keras_tf_trainer

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def get_strategy(name, tpu=""):
    """Returns the `tf.distribute.Strategy` called `name`.

    `multi_worker` reads the cluster from the `TF_CONFIG` environment variable;
    `tpu` connects to the TPU named by `tpu` ("" = the local one).
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        _let_keras_fit_on_multiple_workers()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")


def is_chief(strategy):
    """Whether this process writes checkpoints, logs and exports: the chief of a cluster, or the only process."""
    return strategy.extended.should_checkpoint


def _let_keras_fit_on_multiple_workers():
    """Works around two faults of Keras 3.15's TensorFlow trainer under MultiWorkerMirroredStrategy.

    keras-team/keras#20585: `fit` and `evaluate` fail before the first step
    on more than one worker. (1) To build the model symbolically they average
    the first batch across workers with a collective reduce that cannot take
    eagerly made per-replica tensors; the batch is only needed for its shapes,
    so this takes the local replica's. (2) Each step averages the logged
    metrics with `strategy.reduce("MEAN", v, axis=0)`, which fails on the
    scalar metric values; they are averaged over replicas with `axis=None`.
    Training itself (gradients all-reduced by the strategy) is untouched. The
    two-worker test in tests/test_distribute.py fails if a Keras upgrade
    breaks or fixes this.
    """
    trainer = keras_tf_trainer.TensorFlowTrainer
    if getattr(trainer, "_zoo_multi_worker_fix", False):
        return
    symbolic_build, reduce_per_replica = trainer._maybe_symbolic_build, keras_tf_trainer.reduce_per_replica

    def local_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is None or not keras_tf_trainer._collective_all_reduce_multi_worker(self.distribute_strategy):
            return symbolic_build(self, iterator, data_batch)
        for _, _, batches in iterator:
            first = next(batches)
            break
        local = self.distribute_strategy.experimental_local_results
        data_batch = tree.map_structure(
            lambda x: local(x)[0] if isinstance(x, tf.distribute.DistributedValues) else x, first)
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def reduce_scalars_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and keras_tf_trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return reduce_per_replica(values, strategy, reduction)

    trainer._maybe_symbolic_build = local_symbolic_build
    keras_tf_trainer.reduce_per_replica = reduce_scalars_per_replica
    trainer._zoo_multi_worker_fix = True
