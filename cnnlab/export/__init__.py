"""Getting a run out of the lab: ONNX (`onnx_export.py`), a standalone training script
(`script.py`); the run zip's import lives in `cnnlab.runs.archive`. Never imports streamlit."""

from cnnlab.export.model_code import ModelCodeError
from cnnlab.export.script import TrainingScript, training_script
from cnnlab.export.script_data import ScriptDataError

__all__ = ["ModelCodeError", "ScriptDataError", "TrainingScript", "training_script"]
