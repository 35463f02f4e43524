"""File input and output shared by every stage: atomic writes and image normalisation."""
