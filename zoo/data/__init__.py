"""tf.data pipelines for the zoo's data sets."""

from zoo.data.documents import (
    DATASETS,
    Documents,
    document_dataset,
    hold_out,
    load_documents,
)
from zoo.data.files import DataError

__all__ = ["DATASETS", "DataError", "Documents", "document_dataset", "hold_out", "load_documents"]
