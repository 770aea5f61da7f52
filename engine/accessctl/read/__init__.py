"""Read: files on a commit (and their git history) in, frozen model and findings out."""
