"""What one forward reveals: a photo read safely and letterboxed as Ultralytics does, activations captured with
hooks that live for one call, every map the views need from one forward, and the numbers behind the heatmaps."""
