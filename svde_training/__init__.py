"""svde_training: the offline self-supervised pipeline (installed under this name)."""
