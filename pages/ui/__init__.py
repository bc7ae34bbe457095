"""Streamlit-side building blocks the pages share (fragments, forms); UI only, no torch."""
