"""The model and its weights: architecture configs, the blocks, the backbone, neck and head, the whole detector,
trained weights (matched, read safely, fetched), and what a model costs on paper (parameters, shapes, MACs,
receptive fields), alone, over a grid of widths, and beside another architecture."""
