"""The version-control side: who merged what, who approved it, and what the base commit said."""
