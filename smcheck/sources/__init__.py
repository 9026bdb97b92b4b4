"""Where logits come from: files, stdin, literal values, generators; rows and chunks."""
