"""The tasks of exports: `zoo.load(path)` gives the one an export's family serves.

    import zoo

    translator = zoo.load("savedmodels/gnmt")                  # Translator
    print(translator.translate("A dog runs on the beach.").text)
    classifier = zoo.load("savedmodels/han")                   # DocumentClassifier
    print(classifier.classify("The plot was superb. I loved it!").label)
    generator = zoo.load("savedmodels/graves_text")            # TextGenerator
    print(generator.generate("The ", length=100).text)
    zoo.load("savedmodels/graves_handwriting").sample(steps=700).save("sample.svg")    # HandwritingModel
    zoo.load("savedmodels/graves_synthesis_iam").write("a new tale").save("line.png") # HandwritingWriter

A task runs the export's own signatures, what TF Serving serves, and
returns plain Python and NumPy values: a text in, a result out; a list in,
a list out. A row the export could not serve (an empty text) comes back
with its `error`; an argument it refuses for the whole request raises
ValueError with its message. `.model` is the Keras model of the export's
config holding the export's weights, to evaluate or fine-tune.
"""

from zoo.export import reader
from zoo.export.reader import ExportError
from zoo.tasks.base import Task
from zoo.tasks.classification import Classification, DocumentClassifier
from zoo.tasks.generation import Generation, TextGenerator
from zoo.tasks.handwriting import Handwriting, HandwritingModel, HandwritingWriter
from zoo.tasks.translation import Alignment, Translation, TranslationScore, Translator

# The task of each family of `zoo.registry.FAMILIES`.
TASKS = {task.family: task for task in (DocumentClassifier, TextGenerator, HandwritingModel, HandwritingWriter,
                                        Translator)}

__all__ = ["Alignment", "Classification", "DocumentClassifier", "ExportError", "Generation", "Handwriting",
           "HandwritingModel", "HandwritingWriter", "TASKS", "Task", "TextGenerator", "Translation",
           "TranslationScore", "Translator", "load"]


def load(path):
    """The task of the export at `path`, by the family its `zoo.json` names.

    Args:
        path: an export directory (`savedmodels/<name>`: its newest integer
            version) or a version directory (`savedmodels/<name>/<version>`).

    Returns:
        A `Translator`, `DocumentClassifier`, `TextGenerator`,
        `HandwritingModel` or `HandwritingWriter` (see `TASKS`).

    Raises:
        ExportError: one line naming the path and the cause: no such
            directory, not an export, no `zoo.json`, a newer export format,
            an unknown family or model class, an unreadable SavedModel.
    """
    directory = reader.version_dir(path)
    return TASKS[reader.read_metadata(directory)["family"]](directory)
