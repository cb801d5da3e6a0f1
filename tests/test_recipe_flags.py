"""Every recipe's flags, parsed in this process: each config file parses, each bound is enforced, defaults are stated
once (a model flag's default is its constructor's)."""

import inspect

import pytest
from absl import flags

from conftest import REPO, recipe_flags
from zoo import registry, training

CONFIGS = sorted(path.stem for path in (REPO / "recipes" / "configs").glob("*.flags"))


def recipe_of(config):
    return next(entry.name for entry in sorted(registry.MODELS, key=lambda e: -len(e.name))
                if config.startswith(entry.name + "_"))


@pytest.mark.parametrize("config", CONFIGS)
def test_every_config_parses(config):
    with recipe_flags(recipe_of(config)) as parse:
        parse(f"--flagfile={REPO / 'recipes' / 'configs' / f'{config}.flags'}")


@pytest.mark.parametrize("name, flag, message", [
    ("han", "--batch_size=0", "flag --batch_size=0: 0 is not a positive integer"),
    ("han", "--strategy=gpus", "flag --strategy=gpus: value should be one of <default|mirrored|multi_worker|tpu>"),
    ("han", "--dataset=mnist", "flag --dataset=mnist: value should be one of <demo|zhang_csv|"),
    ("graves_text", "--sequence_length=0", "flag --sequence_length=0: 0 is not a positive integer"),
    ("graves_text", "--dynamic_learning_rates=0.001,-1", "--dynamic_learning_rates: a comma-separated list of positive"),
    ("graves_handwriting", "--sample_steps=0", "flag --sample_steps=0: 0 is not an integer in the range [1, 5000]"),
    ("graves_handwriting", "--sample_bias=-1", "flag --sample_bias=-1: -1.0 is not a non-negative number"),
    ("graves_synthesis", "--window_components=0", "flag --window_components=0: 0 is not a positive integer"),
    ("gnmt", "--beam_size=0", "flag --beam_size=0: 0 is not an integer in the range [1, 16]"),
    ("gnmt", "--max_length=1", "flag --max_length=1: 1 is not integer >= 2"),
    ("gnmt", "--share_embeddings --units=32",
     "--share_embeddings needs --units (the output layer's input) equal to --embedding_dim"),
    ("cho", "--share_embeddings",
     "--share_embeddings needs --maxout_units (the output layer's input) equal to --embedding_dim"),
    ("sutskever", "--tune_alphas=0.6,high", "--tune_alphas: a comma-separated list of float values"),
    ("sutskever", "--subword_model=bpe", "--subword_model=bpe needs --notflite"),
])
def test_a_bad_flag_is_refused(name, flag, message):
    with recipe_flags(name) as parse, pytest.raises(flags.Error) as refused:
        parse(*flag.split())
    assert message in str(refused.value)


@pytest.mark.parametrize("entry", registry.MODELS, ids=lambda entry: entry.name)
def test_model_flags_default_to_the_constructor_and_run_flags_to_run_options(entry):
    parameters = inspect.signature(entry.model_class.__init__).parameters
    with recipe_flags(entry.name) as parse:
        parse()
        for name, parameter in parameters.items():
            if name in flags.FLAGS and parameter.default is not inspect.Parameter.empty:
                assert flags.FLAGS[name].default == parameter.default, name
        run_defaults = training.RunOptions("run", "export")
        for name in ("steps_per_epoch", "checkpoint_steps", "average_epochs", "lr_schedule", "seed"):
            assert flags.FLAGS[name].default == getattr(run_defaults, name)
