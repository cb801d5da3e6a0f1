"""What every data reader shares: its error and its download."""

import os

import keras


class DataError(Exception):
    """A data set is missing or malformed; the message names the file."""


def download(filename, url, data_dir, extract=False):
    """Fetches `url` into `data_dir` as `filename`, unless it is there already.

    Returns the file's path; with `extract=True` the archive is also unpacked
    and the path is that of the folder `keras.utils.get_file` unpacked it
    into. A network error raises `DataError`.
    """
    os.makedirs(data_dir, exist_ok=True)
    try:
        return keras.utils.get_file(filename, url, cache_dir=data_dir, cache_subdir="", extract=extract)
    except Exception as e:  # get_file raises bare Exceptions for network errors
        raise DataError(f"could not download {url} into {data_dir}: {e}") from e
