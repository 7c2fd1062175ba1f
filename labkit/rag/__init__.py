"""Retrieval-augmented generation: chunking, a MiniLM cosine retriever, recall@k and RAG prompts.
Used by notebooks 00 and 02 (prompting, RAG or fine-tuning)."""
