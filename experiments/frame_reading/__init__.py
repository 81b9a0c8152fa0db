"""Does a small VLM read the frames? The experiments behind the bundled tiny model (see README.md here)."""
