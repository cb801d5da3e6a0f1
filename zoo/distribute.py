"""tf.distribute strategies by name, for the recipes' `--strategy` flag."""

import tensorflow as tf

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
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
