"""Figures and sentences: Plotly figures by subject (model, forward, detection, deployment) with the style they
share, PNG pictures for the command line and downloads, numbers for people, and the one sentence under
each figure that says what to notice."""
