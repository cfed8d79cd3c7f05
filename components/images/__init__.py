"""Container images: what a stack runs (refs, settings), the site-registry rule (refs.mirrored), its
application to chart values and kustomize trees (rewrite), and the admission policy that proves it (admission)."""

from .refs import ImageRef, ImageReferenceError, images_in, merge, mirrored, mirrored_prefix, parse_image

__all__ = ["ImageRef", "ImageReferenceError", "images_in", "merge", "mirrored", "mirrored_prefix", "parse_image"]
