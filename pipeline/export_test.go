package pipeline

// SetChunkBytes makes the ingest read text in chunks of n bytes until the
// returned function restores the default.
func SetChunkBytes(n int) (restore func()) {
	old := chunkBytes
	chunkBytes = n
	return func() { chunkBytes = old }
}
