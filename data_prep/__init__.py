"""Data preparation: read review files, clean, label, split and vectorise them."""

from rnnsweep.data_prep.config import DataConfig
from rnnsweep.data_prep.errors import InputError
from rnnsweep.data_prep.prepare import PreparedData, load_prepared, prepare_data

__all__ = ["DataConfig", "InputError", "PreparedData", "load_prepared", "prepare_data"]
