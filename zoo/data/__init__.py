"""tf.data pipelines for the zoo's data sets."""

from zoo.data.documents import (
    DATASETS,
    DataError,
    Documents,
    document_dataset,
    load_documents,
)

__all__ = ["DATASETS", "DataError", "Documents", "document_dataset", "load_documents"]
