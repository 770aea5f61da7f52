"""Local HTTP servers that speak the platforms' documented wire formats, for tests and the demo."""
