"""The zoo's models, listed once: what the loader, the README's table, the benchmarks and the tests read.

Each entry names a paper's model, its class in `zoo.models`, its recipe and
the task family its exports serve (`zoo.load` returns that family's task).

Example:

>>> from zoo import registry
>>> registry.by_name("gnmt").family
'translation'
>>> [entry.name for entry in registry.MODELS if entry.family == "translation"]
['sutskever', 'cho', 'gnmt']
"""

import dataclasses

# The task families of the exports (`zoo.tasks`): each writes its own signatures.
FAMILIES = ("classification", "text", "handwriting", "synthesis", "translation")


@dataclasses.dataclass(frozen=True)
class Model:
    name: str  # the run and export name: recipes/train_<name>.py, savedmodels/<name>/
    title: str
    paper: str
    class_name: str  # in zoo.models
    module: str
    family: str

    @property
    def recipe(self):
        return f"recipes/train_{self.name}.py"

    @property
    def model_class(self):
        import zoo.models

        return getattr(zoo.models, self.class_name)


MODELS = (
    Model("han", "Hierarchical Attention Network", "Yang et al. 2016, NAACL", "HierarchicalAttentionNetwork",
          "zoo/models/han.py", "classification"),
    Model("graves_text", "Deep LSTM with skip connections: characters", "Graves 2013, arXiv 1308.0850",
          "GravesTextModel", "zoo/models/graves.py", "text"),
    Model("graves_handwriting", "Deep LSTM with skip connections: handwriting", "Graves 2013, §4",
          "GravesHandwritingModel", "zoo/models/graves.py", "handwriting"),
    Model("graves_synthesis", "Handwriting synthesis: a soft window over the text", "Graves 2013, §5",
          "GravesSynthesisModel", "zoo/models/graves_synthesis.py", "synthesis"),
    Model("sutskever", "Deep LSTM encoder-decoder, reversed source", "Sutskever et al. 2014, arXiv 1409.3215",
          "SutskeverSeq2Seq", "zoo/models/sutskever.py", "translation"),
    Model("cho", "GRU encoder-decoder, context at every step, maxout", "Cho et al. 2014, arXiv 1406.1078",
          "ChoEncoderDecoder", "zoo/models/cho.py", "translation"),
    Model("gnmt", "GNMT: residual deep LSTMs, additive attention, beam search", "Wu et al. 2016, arXiv 1609.08144",
          "GNMT", "zoo/models/gnmt.py", "translation"),
)


def by_name(name):
    """The entry named `name` (a `Model`); KeyError naming the known ones otherwise."""
    for entry in MODELS:
        if entry.name == name:
            return entry
    raise KeyError(f"no model {name!r} in the zoo; known: {', '.join(entry.name for entry in MODELS)}")


def by_class(class_name):
    """The entry whose `zoo.models` class is `class_name`; KeyError otherwise."""
    for entry in MODELS:
        if entry.class_name == class_name:
            return entry
    raise KeyError(f"no model class {class_name!r} in the zoo; known: "
                   f"{', '.join(entry.class_name for entry in MODELS)}")
