package pipeline

// SetChunkBytes makes the ingest read text in chunks of chunk bytes, split
// and converted in pieces of piece bytes, until the returned function
// restores the defaults.
func SetChunkBytes(chunk, piece int) (restore func()) {
	oldChunk, oldPiece := chunkBytes, pieceBytes
	chunkBytes, pieceBytes = chunk, piece
	return func() { chunkBytes, pieceBytes = oldChunk, oldPiece }
}
