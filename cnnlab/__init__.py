"""cnnlab: a lab for convolutional neural networks (backend; never imports streamlit)."""

__version__ = "0.1.0"
