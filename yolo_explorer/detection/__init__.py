"""Detection and its lenses: from decoded predictions to boxes (NMS), NMS step by step, label assignment, how
large an object is to each level, and why a box was found."""
