"""Person annotation: human parsing, pose, the clothing-agnostic person representation and cloth masks."""
