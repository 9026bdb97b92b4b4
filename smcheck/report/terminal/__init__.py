"""Rich renderables of the terminal reports; building them never prints."""
