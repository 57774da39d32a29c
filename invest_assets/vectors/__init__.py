"""The vector store below the embedding assets and the read path: which columns hold vectors, which model
each serves, and their ANN indexes."""
